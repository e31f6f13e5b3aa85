"""Read-only admin for audit rows: searched and viewed, never added, changed or deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent

# django-stubs makes the admin classes generic in their model; Django's are not subscriptable
# at run time, so the parameters exist only for the type checker.
if TYPE_CHECKING:
    _AuditEventAdmin = admin.ModelAdmin[AuditEvent]
else:
    _AuditEventAdmin = admin.ModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(_AuditEventAdmin):
    list_display = ["at", "actor", "action", "patient_id", "object_type", "object_id", "ip_address"]
    list_filter = ["action", "at"]
    list_select_related = ["actor"]
    search_fields = ["actor__username", "actor__display_name", "object_type", "object_id", "detail"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]
    # The patient's name is left out on purpose: the admin is outside the access gate.
    fields = readonly_fields = (
        "at",
        "actor",
        "action",
        "patient_id",
        "object_type",
        "object_id",
        "detail",
        "ip_address",
        "user_agent",
    )
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
