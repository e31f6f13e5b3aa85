"""Admin views of threads and messages: for looking, not for changing.

Messages are patient data: every change must go through `messaging.services` (history, audit,
live events), so the admin is read-only and cannot delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from messaging.models import Message, Thread


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "title", "patient", "organization", "network", "last_seq"]
    list_filter = ["kind"]
    list_select_related = ["patient", "organization", "network"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "thread", "seq", "author", "kind", "priority", "created_at"]
    list_filter = ["kind", "priority"]
    list_select_related = ["thread", "author"]
    # No body in the list: the admin is for structure, patient text stays in the app.
    exclude = ["body"]
