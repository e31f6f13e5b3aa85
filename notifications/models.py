"""Notices, their delivery attempts, people's preferences and their push subscriptions.

The `Notice` row is the outbox: it exists once its cause committed, whatever the broker does,
and delivery (in-app, Web Push, e-mail, SMS/voice) works from it. `key` makes a notice
idempotent per recipient: a reminder, an escalation step or a mention written twice is one
notice. `dispatched_at` says its deliveries were planned; the sweep plans any notice left
without (its task lost). Each channel of a notice is one `Delivery` row, whose state and next
attempt time live in the database, so retries and held (quiet-hours) notices need no long
Celery countdowns.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("通常")
    IMPORTANT = "important", _("重要")
    URGENT = "urgent", _("緊急")


class Channel(models.TextChoices):
    IN_APP = "in_app", _("アプリ内")
    PUSH = "push", _("プッシュ通知")
    EMAIL = "email", _("メール")
    SMS = "sms", _("SMS・音声")


class Notice(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices"
    )
    # What happened, dotted: "message.new", "message.mention", "request.new", "routing.step",
    # "conference.invited", "referral.invited", ...
    kind = models.CharField(max_length=64)
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE)
    title = models.CharField(max_length=200)
    # Never more than the recipient may read where the notice leads. Shown in the app only:
    # push and e-mail carry the title and the link, never the body.
    body = models.TextField(blank=True)
    # A path inside Kizuna that opens what the notice is about.
    url = models.CharField(max_length=500)
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # When its deliveries were planned (the channels chosen, quiet hours applied).
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="notice_once_per_key"),
            models.CheckConstraint(
                condition=Q(urgency__in=["routine", "important", "urgent"]),
                name="notice_urgency_known",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notice_recipient_recent"),
            models.Index(
                fields=["recipient"], condition=Q(read_at__isnull=True), name="notice_unread"
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="notice_undispatched",
            ),
            # Whether a cause has notified anyone yet (messaging's sweep asks by key).
            models.Index(fields=["key"], name="notice_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    # Claimed by a worker until `next_attempt_at`; a crash leaves it to be claimed again then.
    SENDING = "sending", _("送信中")
    # Quiet hours: sent in the digest at `next_attempt_at`.
    HELD = "held", _("保留中")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("失敗")


class Delivery(models.Model):
    """One channel of one notice: its attempts, their outcome and when to try next."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Why the last attempt failed (or how it was sent: "digest").
    reason = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "channel"], name="delivery_once_per_channel"),
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False), name="delivery_sent_has_time"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "sending", "held"]),
                name="delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.state} (notice {self.notice_id})"


def default_routine() -> list[str]:
    return [Channel.IN_APP]


def default_important() -> list[str]:
    return [Channel.IN_APP, Channel.PUSH]


def default_urgent() -> list[str]:
    return [Channel.IN_APP, Channel.PUSH, Channel.EMAIL, Channel.SMS]


DEFAULT_TIME_ZONE = "Asia/Tokyo"


class Preference(models.Model):
    """How one person wants to be told things. Without a row, the defaults below apply."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preference"
    )
    routine = ArrayField(
        models.CharField(max_length=16, choices=Channel.choices), default=default_routine
    )
    important = ArrayField(
        models.CharField(max_length=16, choices=Channel.choices), default=default_important
    )
    urgent = ArrayField(
        models.CharField(max_length=16, choices=Channel.choices), default=default_urgent
    )
    # Quiet hours, in `time_zone`: both set or neither; may wrap midnight (22:00–07:00).
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default=DEFAULT_TIME_ZONE)
    # The daily e-mail of unread threads, sent at `digest_hour` local time.
    daily_digest = models.BooleanField(default=False)
    digest_hour = models.PositiveSmallIntegerField(default=7)
    last_digest_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="preference_quiet_hours_both_or_neither",
            ),
            models.CheckConstraint(
                condition=~Q(quiet_start=models.F("quiet_end")),
                name="preference_quiet_hours_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(digest_hour__lte=23), name="preference_digest_hour_in_day"
            ),
            # Urgent notices always reach the app: they can be made louder, never silent.
            models.CheckConstraint(
                condition=Q(urgent__contains=["in_app"]), name="preference_urgent_in_app"
            ),
        ]

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    def channels_for(self, urgency: str) -> list[str]:
        if urgency == Urgency.URGENT:
            return list(self.urgent)
        if urgency == Urgency.IMPORTANT:
            return list(self.important)
        return list(self.routine)

    def quiet_until(self, now: datetime.datetime) -> datetime.datetime | None:
        """The end of the quiet hours `now` falls in (aware), or None outside them."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        start, end, t = self.quiet_start, self.quiet_end, local.time()
        if start < end:
            inside = start <= t < end
            end_day = local.date()
        else:  # wraps midnight
            inside = t >= start or t < end
            end_day = local.date() + datetime.timedelta(days=1) if t >= start else local.date()
        if not inside:
            return None
        return datetime.datetime.combine(end_day, end, tzinfo=zone)


class PushSubscription(models.Model):
    """One device's Web Push subscription (removed when the push service answers 404/410)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"push subscription {self.pk} of {self.user_id}"
