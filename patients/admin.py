"""Django admin for patients: for fixing master data, not for reading the record.

The admin bypasses the access gate and the audit log, so it shows only who is on which team
and under whose consent, not the clinical record (problems, medications, wishes...), which is
read only through the gate. Emergency grants are listed read-only for review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from patients.models import BreakGlassGrant, CareTeamMember, Consent, Patient

# django-stubs makes the admin classes generic in their model; Django's are not subscriptable
# at run time, so the parameters exist only for the type checker.
if TYPE_CHECKING:
    _CareTeamMemberInline = admin.TabularInline[CareTeamMember, Patient]
    _ConsentInline = admin.TabularInline[Consent, Patient]
    _PatientAdmin = admin.ModelAdmin[Patient]
    _BreakGlassGrantAdmin = admin.ModelAdmin[BreakGlassGrant]
else:
    _CareTeamMemberInline = _ConsentInline = admin.TabularInline
    _PatientAdmin = _BreakGlassGrantAdmin = admin.ModelAdmin


class CareTeamMemberInline(_CareTeamMemberInline):
    model = CareTeamMember
    extra = 0
    raw_id_fields = ["user", "organization"]
    fields = ["user", "role", "organization", "start_date", "end_date"]


CONSENT_FIELDS: tuple[str, ...] = (
    "organizations",
    "items",
    "method",
    "consented_on",
    "recorded_by",
    "recorded_at",
    "note",
    "withdrawn_at",
    "withdrawn_by",
)


class ConsentInline(_ConsentInline):
    model = Consent
    extra = 0
    fields = readonly_fields = CONSENT_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        # Consent is recorded through the service, which writes the audit row.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(_PatientAdmin):
    list_display = ["id", "name", "name_kana", "status", "managing_organization"]
    list_filter = ["status"]
    search_fields = ["name", "name_kana"]
    list_select_related = ["managing_organization"]
    fields = [
        "name",
        "name_kana",
        "date_of_birth",
        "sex",
        "care_level",
        "status",
        "managing_organization",
    ]
    inlines = [CareTeamMemberInline, ConsentInline]


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(_BreakGlassGrantAdmin):
    list_display = ["id", "patient_id", "user", "granted_at", "expires_at"]
    list_select_related = ["user"]
    readonly_fields = ["patient", "user", "reason", "granted_at", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: BreakGlassGrant | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: BreakGlassGrant | None = None
    ) -> bool:
        return False
