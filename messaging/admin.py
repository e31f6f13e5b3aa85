"""Admin views of threads and messages: for looking, not for changing.

Messages are patient data: every change must go through `messaging.services` (history, audit,
live events), so the admin is read-only and cannot delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from messaging.models import Message, Thread

# django-stubs makes the admin classes generic in their model; Django's are not subscriptable
# at run time, so the parameters exist only for the type checker.
if TYPE_CHECKING:
    _ThreadAdmin = admin.ModelAdmin[Thread]
    _MessageAdmin = admin.ModelAdmin[Message]
else:
    _ThreadAdmin = _MessageAdmin = admin.ModelAdmin


class ReadOnly:
    """Mixed in before `ModelAdmin`: nothing may be added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


@admin.register(Thread)
class ThreadAdmin(ReadOnly, _ThreadAdmin):
    list_display = ["id", "kind", "title", "patient", "organization", "network", "last_seq"]
    list_filter = ["kind"]
    list_select_related = ["patient", "organization", "network"]


@admin.register(Message)
class MessageAdmin(ReadOnly, _MessageAdmin):
    list_display = ["id", "thread", "seq", "author", "kind", "priority", "created_at"]
    list_filter = ["kind", "priority"]
    list_select_related = ["thread", "author"]
    # No body in the list: the admin is for structure, patient text stays in the app.
    exclude = ["body"]
