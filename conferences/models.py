"""Conferences and what hangs on them: invitees, agenda, single-occurrence changes, answers,
minutes with their next steps, calendar feed tokens and the room's attendance log.

A conference's own `starts_at`/`ends_at` are its first occurrence; a recurring one repeats by
its RFC 5545 rule (`recurrence`), expanded in the organizer's `time_zone`
(`conferences.recurrence`). An occurrence is named by its original start (UTC), as iCalendar's
RECURRENCE-ID names it; a move or a cancellation is an `OccurrenceChange` row for that name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from teams.models import Organization

DEFAULT_TIME_ZONE = "Asia/Tokyo"


class ConferenceKind(models.TextChoices):
    CASE_REVIEW = "case_review", _("事例検討会")
    DISCHARGE = "discharge", _("退院時カンファレンス")
    SERVICE_COORDINATION = "service_coordination", _("サービス担当者会議")
    NETWORK_MEETING = "network_meeting", _("地域連携会議")
    TRAINING = "training", _("研修")


class Conference(models.Model):
    kind = models.CharField(_("種類"), max_length=32, choices=ConferenceKind.choices)
    title = models.CharField(_("件名"), max_length=200)
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="organized_conferences"
    )
    time_zone = models.CharField(_("タイムゾーン"), max_length=64, default=DEFAULT_TIME_ZONE)
    starts_at = models.DateTimeField(_("開始"))
    ends_at = models.DateTimeField(_("終了"))
    # RFC 5545 RRULE without the "RRULE:" prefix; "" for a single meeting.
    recurrence = models.CharField(_("繰り返し"), max_length=300, blank=True)
    is_online = models.BooleanField(_("オンライン"), default=True)
    place = models.CharField(_("場所"), max_length=200, blank=True)
    external_url = models.URLField(_("外部会議URL"), max_length=500, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="conference_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(is_online=True) | ~Q(place=""), name="conference_in_person_has_place"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Invitee(models.Model):
    """A person invited to every occurrence of a conference. Invited as themselves or as a
    member of an invited organization (`via`)."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="invitees")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    via = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conference", "user"], name="invitee_once"),
        ]


class AgendaItem(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="agenda")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    question = models.TextField(_("検討したいこと"), max_length=2000)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "patient"], name="agenda_patient_once"),
        ]


class OccurrenceChange(models.Model):
    """One occurrence moved, cancelled or turned online. `original_start` names it (UTC)."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="changes")
    original_start = models.DateTimeField()
    cancelled = models.BooleanField(default=False)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_online = models.BooleanField(null=True, blank=True)
    place = models.CharField(max_length=200, blank=True)
    # Grows with each change, so each change's notice has its own key.
    version = models.PositiveIntegerField(default=1)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "original_start"], name="occurrence_change_once"
            ),
            models.CheckConstraint(
                condition=(Q(starts_at__isnull=True) & Q(ends_at__isnull=True))
                | Q(ends_at__gt=F("starts_at")),
                name="occurrence_change_ends_after_start",
            ),
        ]


class Rsvp(models.TextChoices):
    ATTENDING = "attending", _("出席")
    ABSENT = "absent", _("欠席")
    UNDECIDED = "undecided", _("未定")


class Answer(models.Model):
    """An invitee's answer for one occurrence."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="answers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    occurrence = models.DateTimeField()  # its original start
    rsvp = models.CharField(max_length=16, choices=Rsvp.choices)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "user", "occurrence"], name="answer_once_per_occurrence"
            ),
        ]


class Minutes(models.Model):
    """The minutes of one agenda patient at one occurrence, and the contact-book note they
    were posted as (`thread_id`, `seq`)."""

    item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="minutes")
    occurrence = models.DateTimeField()  # its original start
    summary = models.TextField(_("概要"), max_length=5000)
    decisions = models.TextField(_("決定事項"), max_length=5000, blank=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    saved_at = models.DateTimeField(default=timezone.now)
    thread_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "occurrence"], name="minutes_once"),
        ]


class NextStep(models.Model):
    """A next step from the minutes, with its owner and due date. (They become closed-loop
    requests once the routing app has landed.)"""

    minutes = models.ForeignKey(Minutes, on_delete=models.CASCADE, related_name="next_steps")
    text = models.CharField(_("内容"), max_length=500)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due = models.DateField(_("期限"))


class FeedToken(models.Model):
    """A person's private calendar feed: only the SHA-256 of the secret is stored."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conference_feed"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class Attendance(models.Model):
    """Who was in the meeting room of one occurrence, from when to when."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="attendance")
    occurrence = models.DateTimeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    # While in the room (left_at is null): the socket (channel name) and the opaque id the
    # other participants address it by; whether the organizer has let them in (the lobby).
    peer = models.CharField(max_length=16, unique=True)
    channel = models.CharField(max_length=200)
    admitted = models.BooleanField(default=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    # The room page says "still here" every 30 s (`room.here`): a row not seen for
    # `services.ROOM_STALE` is a socket that died with its Daphne process, and counts no more.
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at"]
        indexes = [
            models.Index(
                fields=["conference", "occurrence"],
                condition=Q(left_at__isnull=True),
                name="attendance_in_room",
            ),
            models.Index(fields=["channel"], name="attendance_channel"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")),
                name="attendance_left_after_joined",
            ),
        ]
