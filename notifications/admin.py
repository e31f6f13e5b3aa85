"""Django admin for notifications: what was sent to whom, how, and why a delivery failed
(read-only: notices and deliveries are written by the services alone)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from notifications.models import Delivery, Notice, PushSubscription


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("channel", "state", "attempts", "next_attempt_at", "sent_at", "reason")
    readonly_fields = fields


@admin.register(Notice)
class NoticeAdmin(ReadOnly):
    list_display = ["created_at", "recipient", "kind", "urgency", "title", "read_at"]
    list_filter = ["urgency", "kind"]
    search_fields = ["recipient__username", "key"]
    raw_id_fields = ["recipient"]
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ["notice", "channel", "state", "attempts", "next_attempt_at", "reason"]
    list_filter = ["state", "channel"]
    raw_id_fields = ["notice"]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnly):
    list_display = ["user", "created_at"]
    raw_id_fields = ["user"]
