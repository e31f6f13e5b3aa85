"""A notice: one thing one person should know, written in the same transaction as its cause.

The `Notice` row is the outbox: it exists once its cause committed, whatever the broker does,
and delivery (in-app, Web Push, e-mail) works from it. `key` makes a notice idempotent per
recipient: a reminder, an escalation step or a mention written twice is one notice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("通常")
    IMPORTANT = "important", _("重要")
    URGENT = "urgent", _("緊急")


class Notice(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    # What happened, dotted: "message.new", "message.mention", "request.new", "routing.step",
    # "conference.invited", "referral.invited", ...
    kind = models.CharField(max_length=64)
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE)
    title = models.CharField(max_length=200)
    # Never more than the recipient may read where the notice leads.
    body = models.TextField(blank=True)
    # A path inside Kizuna that opens what the notice is about.
    url = models.CharField(max_length=500)
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="notice_once_per_key"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notice_recipient_recent"),
            models.Index(
                fields=["recipient"], condition=Q(read_at__isnull=True), name="notice_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"
