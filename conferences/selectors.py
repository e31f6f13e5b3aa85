"""Reads about conferences, already scoped to what the reader may see, and audited.

An agenda patient's name (and its minutes) reach only readers the patient gate lets see the
patient; the others read "a patient of <managing organization>". The names shown are patient
data: the page's read is audited, one row per patient named (`audit.reads`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.reads import audit_patients
from conferences import recurrence
from conferences.access import access_conference, conferences_visible_to, visible_patient_ids
from conferences.models import (
    AgendaItem,
    Answer,
    Conference,
    ConferenceKind,
    FeedToken,
    Invitee,
    Minutes,
    OccurrenceChange,
    Rsvp,
)
from conferences.recurrence import Occurrence
from config.errors import DomainError
from patients.referral_selectors import decided_referral
from teams.identity import AnyUser
from teams.models import Membership, User


def feed_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_moment(value: Any, tz: ZoneInfo) -> dt.datetime | None:
    """An aware datetime from a datetime or ISO text; a naive one is read in `tz`."""
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip())  # None when it is not one
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    moment: dt.datetime = value
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=tz)
    return moment


def _no_such_occurrence() -> DomainError:
    return DomainError(
        _("入力内容を確認してください。"),
        fields={"occurrence": [_("この会議にその回はありません。")]},
    )


def _expand(
    conference: Conference,
    *,
    changes: Iterable[OccurrenceChange],
    after: dt.datetime,
    before: dt.datetime,
    with_cancelled: bool = False,
) -> list[Occurrence]:
    """The conference's occurrences starting in [after, before), `changes` applied."""
    return recurrence.expand(
        conference_id=conference.pk,
        starts_at=conference.starts_at,
        ends_at=conference.ends_at,
        rule_text=conference.recurrence,
        tz=recurrence.zone(conference.time_zone),
        is_online=conference.is_online,
        place=conference.place,
        changes=changes,
        after=after,
        before=before,
        with_cancelled=with_cancelled,
    )


def occurrence_list(
    conference: Conference,
    *,
    after: dt.datetime,
    before: dt.datetime | None = None,
    with_cancelled: bool = False,
) -> list[Occurrence]:
    """The conference's occurrences starting in [after, before) (two years on by default)."""
    changes = list(conference.changes.all())
    return _expand(
        conference,
        changes=changes,
        after=after,
        before=before or after + dt.timedelta(days=recurrence.MAX_SPAN_DAYS + 1),
        with_cancelled=with_cancelled,
    )


def find_occurrence(conference: Conference, key: Any, *, with_cancelled: bool = True) -> Occurrence:
    """The occurrence named by its original start (ISO text or datetime); `DomainError` on the
    field `occurrence` if the series has none such."""
    at = parse_moment(key, ZoneInfo("UTC"))
    if at is None or not recurrence.is_occurrence(
        starts_at=conference.starts_at,
        rule_text=conference.recurrence,
        tz=recurrence.zone(conference.time_zone),
        key=at,
    ):
        raise _no_such_occurrence()
    at = at.astimezone(dt.UTC)
    change = conference.changes.filter(original_start=at).first()
    found = _expand(
        conference,
        changes=[change] if change else [],
        after=min(at, change.starts_at if change and change.starts_at else at),
        before=max(at, change.starts_at if change and change.starts_at else at)
        + dt.timedelta(seconds=1),
        with_cancelled=with_cancelled,
    )
    for occurrence in found:
        if occurrence.key == at:
            return occurrence
    raise _no_such_occurrence()


@dataclass(frozen=True)
class Dated:
    """An occurrence with its conference, for calendars and lists."""

    occurrence: Occurrence
    conference: Conference


def occurrences_for(
    user: AnyUser, *, after: dt.datetime, before: dt.datetime, with_cancelled: bool = True
) -> list[Dated]:
    """The user's conferences' occurrences starting in [after, before), by start."""
    moved_in = OccurrenceChange.objects.filter(
        conference=OuterRef("pk"), starts_at__gte=after, starts_at__lt=before
    )
    conferences = (
        conferences_visible_to(user)
        .filter(cancelled_at__isnull=True)
        .filter(Q(starts_at__lt=before) | Exists(moved_in))
        .prefetch_related("changes")
    )
    out: list[Dated] = []
    for conference in conferences:
        for occurrence in _expand(
            conference,
            changes=conference.changes.all(),
            after=after,
            before=before,
            with_cancelled=with_cancelled,
        ):
            out.append(Dated(occurrence, conference))
    out.sort(key=lambda d: (d.occurrence.starts_at, d.conference.pk))
    return out


@dataclass
class AgendaRow:
    item: AgendaItem
    visible: bool
    label: str  # the patient's name, or "a patient of <organization>"
    minutes: list[Minutes] = field(default_factory=list)


@dataclass
class InviteeRow:
    user: User
    organization: str
    rsvp: str  # Rsvp value, "" when not answered


@dataclass
class ConferencePage:
    conference: Conference
    is_organizer: bool
    agenda: list[AgendaRow]
    invitees: list[InviteeRow]
    upcoming: list[Occurrence]
    current: Occurrence | None  # the occurrence the page is about (next, or the one asked)
    my_rsvp: str
    when_words: str


def agenda_label(visible: bool, item: AgendaItem) -> str:
    if visible:
        return item.patient.name
    return _("%(organization)sの患者") % {"organization": item.patient.managing_organization.name}


def conference_page(
    user: AnyUser, conference_id: object, *, occurrence: object = None
) -> ConferencePage:
    """What the conference page shows the user; `NotFound` if they are not invited."""
    conference = access_conference(user, conference_id)
    tz = recurrence.zone(conference.time_zone)
    now = timezone.now()
    changes = list(conference.changes.all())
    upcoming = _expand(
        conference,
        changes=changes,
        after=now - (conference.ends_at - conference.starts_at),
        before=now + dt.timedelta(days=recurrence.MAX_SPAN_DAYS + 1),
        with_cancelled=True,
    )[:12]
    if not upcoming:
        upcoming = _expand(
            conference,
            changes=changes,
            after=conference.starts_at - dt.timedelta(days=1),
            before=now + dt.timedelta(days=1),
            with_cancelled=True,
        )[-1:]
    current = next((o for o in upcoming if not o.cancelled), upcoming[0] if upcoming else None)
    if occurrence:
        current = find_occurrence(conference, occurrence)
    items = list(
        AgendaItem.objects.filter(conference=conference)
        .select_related("patient__managing_organization", "presenter")
        .prefetch_related(
            Prefetch(
                "minutes",
                queryset=Minutes.objects.prefetch_related("next_steps__owner").order_by(
                    "-occurrence"
                ),
            )
        )
    )
    seen = visible_patient_ids(user, [i.patient_id for i in items])
    agenda = [
        AgendaRow(
            item=i,
            visible=i.patient_id in seen,
            label=agenda_label(i.patient_id in seen, i),
            minutes=list(i.minutes.all()) if i.patient_id in seen else [],
        )
        for i in items
    ]
    audit_patients(
        user if user.is_authenticated else None,
        AuditAction.READ,
        patient_ids=[i.patient_id for i in items if i.patient_id in seen],
        object_type="conferences.conference",
    )
    answers: dict[int, str] = {}
    if current is not None:
        answers = dict(
            Answer.objects.filter(conference=conference, occurrence=current.key).values_list(
                "user_id", "rsvp"
            )
        )
    invitees = [
        InviteeRow(
            user=inv.user,
            organization=inv.via.name
            if inv.via
            else "、".join(m.organization.name for m in inv.user.memberships.all()),
            rsvp=answers.get(inv.user_id, ""),
        )
        for inv in Invitee.objects.filter(conference=conference)
        .select_related("user", "via")
        .prefetch_related(
            Prefetch(
                "user__memberships",
                queryset=Membership.objects.filter(is_active=True).select_related("organization"),
            )
        )
        .order_by("user__name_kana", "user_id")
    ]
    return ConferencePage(
        conference=conference,
        is_organizer=conference.organizer_id == user.pk,
        agenda=agenda,
        invitees=invitees,
        upcoming=upcoming,
        current=current,
        my_rsvp=answers.get(user.pk or 0, ""),
        when_words=recurrence.describe(conference.recurrence, conference.starts_at, tz),
    )


RSVP_LABELS = dict(Rsvp.choices)


def feed_owner(secret: str) -> User | None:
    """The person whose calendar feed `secret` opens, or None (revoked, unknown, inactive)."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    token = FeedToken.objects.filter(digest=feed_digest(secret)).select_related("user").first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def feed_conferences(user: User) -> list[Conference]:
    """The conferences in the person's feed: every one they organize or are invited to."""
    return list(
        conferences_visible_to(user)
        .filter(cancelled_at__isnull=True)
        .prefetch_related("changes", "agenda")
        .select_related("organizer")
    )


def conference_for_download(user: AnyUser, conference_id: object) -> Conference:
    """One conference for its .ics download: the invited reader's, with what the file needs."""
    conference = access_conference(user, conference_id)
    return (
        Conference.objects.filter(pk=conference.pk)
        .prefetch_related("changes", "agenda")
        .select_related("organizer")
        .get()
    )


def access_room_conference(user: AnyUser, conference_id: object) -> Conference:
    """The conference of a room page: the invited reader's."""
    return access_conference(user, conference_id)


def conferences_list(user: AnyUser) -> QuerySet[Conference]:
    """The user's conferences (organized or invited to), first meeting first, with what a
    list row shows: the organizer and the single-occurrence changes (for the next meeting),
    in a fixed number of queries however long the list."""
    return (
        conferences_visible_to(user)
        .select_related("organizer")
        .prefetch_related("changes")
        .annotate(agenda_count=Count("agenda", distinct=True))
        .order_by("starts_at", "pk")
    )


def next_occurrence(conference: Conference, *, now: dt.datetime | None = None) -> Occurrence | None:
    """The conference's next meeting not yet over (its changes prefetched), or None."""
    now = now or timezone.now()
    if conference.cancelled_at is not None:
        return None
    found = _expand(
        conference,
        changes=conference.changes.all(),
        after=now - (conference.ends_at - conference.starts_at),
        before=now + dt.timedelta(days=recurrence.MAX_SPAN_DAYS + 1),
    )
    return next((o for o in found if o.ends_at > now), None)


def discharge_prefill(user: User, referral_id: object) -> dict[str, Any]:
    """The schedule form's first values for the discharge conference of a decided referral
    (退院時カンファレンス): the pair, the referring hospital's author (its liaison until
    the discharge) and the new patient on the agenda. The referral's access is patients'
    (`decided_referral`: `NotFound` for whoever does not see it); the form's own choices
    still decide whom and which patient the user may put on it."""
    referral = decided_referral(user, referral_id)
    people = [referral.primary_id, referral.secondary_id, referral.created_by_id]
    day = referral.wished_start - dt.timedelta(days=1)
    return {
        "kind": ConferenceKind.DISCHARGE,
        "title": _("退院時カンファレンス(在宅医療の依頼 #%(id)s)") % {"id": referral.pk},
        "date": max(day, timezone.localdate()),
        "is_online": True,
        "repeat": "none",
        "invitees": [str(pk) for pk in people if pk and pk != user.pk],
        "agenda_patient_1": str(referral.patient_id),
        "agenda_question_1": _("退院後の在宅医療の開始に向けて: 主治医・副主治医と病院の情報共有"),
    }
