"""Every change of state about conferences: one function per use case.

Each takes the acting person first, checks access (`conferences.access`; agenda patients
through `patients.access`), validates (raising `DomainError` with field errors), and writes in
one transaction with its notices (`notifications.services.notify`, keyed so a retry notifies
once) and audit rows. Minutes are posted to the patient's contact book through
`messaging.services`, as the organizer's note; a discharge conference's hospital guests read
the agenda patients through `patients.services.conference_grant_give` for the meeting window.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from conferences import recurrence
from conferences.access import (
    ROOM_MARGIN,
    access_conference,
    network_organizations,
    network_people,
    visible_patient_ids,
)
from conferences.models import (
    AgendaItem,
    Answer,
    Attendance,
    Conference,
    ConferenceKind,
    FeedToken,
    Invitee,
    Minutes,
    NextStep,
    OccurrenceChange,
    Rsvp,
)
from conferences.recurrence import Occurrence
from conferences.selectors import feed_digest, find_occurrence, occurrence_list, parse_moment
from config.errors import DomainError, Forbidden, NotFound
from messaging import services as messaging_services
from notifications.models import Urgency
from notifications.services import notify
from patients.access import Capability, access_patient
from patients.models import Patient
from patients.services import conference_grant_give, conference_grants_end
from teams.models import Membership, OrganizationKind, User

MAX_DURATION = dt.timedelta(hours=12)
MAX_INVITEES = 200
MAX_AGENDA = 20
REMINDERS = (("reminder-24h", dt.timedelta(hours=24)), ("reminder-15m", dt.timedelta(minutes=15)))


def _invalid(fields: dict[str, list[str]]) -> DomainError:
    return DomainError(_("入力内容を確認してください。"), fields=fields)


def conference_url(conference_id: int) -> str:
    return f"/conferences/{conference_id}/"


def _text(value: Any, *, max_length: int, required: bool = True) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        return None
    text: str = value.strip()
    if (required and not text) or len(text) > max_length:
        return None
    return text


def _ids(value: Any) -> list[int] | None:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return None
    out = []
    for item in value:
        if isinstance(item, User):
            item = item.pk
        if isinstance(item, bool):
            return None
        try:
            pk = int(item)
        except (TypeError, ValueError):
            return None
        if not 0 < pk < 2**63:
            return None
        out.append(pk)
    return out


@dataclass(frozen=True)
class _When:
    starts_at: dt.datetime
    ends_at: dt.datetime
    tz: ZoneInfo
    rule: str


def _check_when(
    fields: dict[str, list[str]],
    *,
    starts_at: Any,
    ends_at: Any,
    time_zone: Any,
    rule: Any,
    kind: str,
) -> _When | None:
    try:
        tz = recurrence.zone(time_zone if isinstance(time_zone, str) else "")
    except DomainError as exc:
        fields.update(exc.fields)
        return None
    start = parse_moment(starts_at, tz)
    end = parse_moment(ends_at, tz)
    if start is None:
        fields["starts_at"] = [_("開始日時を入力してください。")]
    if end is None:
        fields["ends_at"] = [_("終了日時を入力してください。")]
    if start is None or end is None:
        return None
    if end <= start:
        fields["ends_at"] = [_("終了は開始より後にしてください。")]
        return None
    if end - start > MAX_DURATION:
        fields["ends_at"] = [_("会議は12時間以内にしてください。")]
        return None
    try:
        rule_text = recurrence.check_rule(rule, start, tz)
    except DomainError as exc:
        fields.update(exc.fields)
        return None
    if rule_text and kind == ConferenceKind.DISCHARGE:
        fields["recurrence"] = [_("退院時カンファレンスは繰り返しにできません。")]
        return None
    return _When(start, end, tz, rule_text)


def _check_agenda(
    user: User, agenda: Any, fields: dict[str, list[str]]
) -> list[tuple[Patient, int, str]]:
    if agenda is None:
        agenda = []
    if not isinstance(agenda, list | tuple) or len(agenda) > MAX_AGENDA:
        fields["agenda"] = [_("議題は%(n)d件までです。") % {"n": MAX_AGENDA}]
        return []
    out: list[tuple[Patient, int, str]] = []
    seen: set[int] = set()
    errors: list[str] = []
    for n, item in enumerate(agenda, start=1):
        if not isinstance(item, dict):
            errors.append(_("%(n)d件目: 議題の形式が正しくありません。") % {"n": n})
            continue
        try:
            patient = access_patient(user, item.get("patient"))
        except (NotFound, Forbidden):
            # Whatever the reason, the same words: a patient the organizer cannot see is
            # neither named nor confirmed to exist.
            errors.append(
                _("%(n)d件目: この患者は議題にできません(あなたが閲覧できる患者のみ)。") % {"n": n}
            )
            continue
        if patient.pk in seen:
            errors.append(_("%(n)d件目: 同じ患者が2回あります。") % {"n": n})
            continue
        seen.add(patient.pk)
        presenter = _ids([item.get("presenter") or user.pk])
        question = _text(item.get("question"), max_length=2000)
        if question is None:
            errors.append(
                _("%(n)d件目: 検討したいことを2000文字以内で入力してください。") % {"n": n}
            )
            continue
        if not presenter:
            errors.append(_("%(n)d件目: 発表者が正しくありません。") % {"n": n})
            continue
        out.append((patient, presenter[0], question))
    if errors:
        fields["agenda"] = errors
    return out


def _notify_all(
    conference: Conference,
    user_ids: Iterable[int],
    *,
    kind: str,
    key: str,
    title: str,
    body: str,
    urgency: Urgency = Urgency.ROUTINE,
) -> None:
    for uid in sorted(set(user_ids)):
        notify(
            uid,
            kind=kind,
            key=key,
            title=title,
            url=conference_url(conference.pk),
            body=body,
            urgency=urgency,
        )


def _when_words(conference: Conference, start: dt.datetime) -> str:
    tz = recurrence.zone(conference.time_zone)
    if conference.recurrence and start == conference.starts_at:
        return recurrence.describe(conference.recurrence, conference.starts_at, tz)
    return f"{start.astimezone(tz):%Y-%m-%d %H:%M} ({conference.time_zone})"


def _participants(conference: Conference) -> list[int]:
    ids = list(Invitee.objects.filter(conference=conference).values_list("user_id", flat=True))
    return [*ids, conference.organizer_id]


def _hospital_guests(conference: Conference) -> list[User]:
    """Invitees who work for a hospital: a discharge conference's guests."""
    hospital = Membership.objects.filter(
        is_active=True, organization__kind=OrganizationKind.HOSPITAL
    ).values("user_id")
    return list(
        User.objects.filter(
            pk__in=Invitee.objects.filter(conference=conference, user_id__in=hospital).values(
                "user_id"
            )
        )
    )


def _grant_guests(user: User, conference: Conference, occurrence: Occurrence) -> None:
    """A discharge conference: its hospital guests read the agenda patients they do not see
    otherwise, from the room's opening to its closing."""
    if conference.kind != ConferenceKind.DISCHARGE:
        return
    items = list(AgendaItem.objects.filter(conference=conference))
    for guest in _hospital_guests(conference):
        already = visible_patient_ids(guest, [i.patient_id for i in items])
        for item in items:
            if item.patient_id in already:
                continue
            conference_grant_give(
                user,
                item.patient_id,
                guest=guest,
                source=f"conference:{conference.pk}",
                starts_at=occurrence.starts_at - ROOM_MARGIN,
                ends_at=occurrence.ends_at + ROOM_MARGIN,
            )


def schedule_conference(
    user: User,
    *,
    kind: Any,
    title: Any,
    starts_at: Any,
    ends_at: Any,
    time_zone: Any = "Asia/Tokyo",
    recurrence_rule: Any = "",
    is_online: Any = True,
    place: Any = "",
    external_url: Any = "",
    invitees: Any = (),
    organizations: Any = (),
    agenda: Any = (),
) -> Conference:
    """Schedule a conference and invite its people (each notified once).

    Refused with field errors: an unknown kind, no title, end before start, a rule that does
    not end or ends past what the form allows, people or organizations outside the
    organizer's networks, and agenda patients the organizer cannot see."""
    if not user.is_authenticated or not user.is_active:
        raise NotFound
    fields: dict[str, list[str]] = {}
    kind_value = kind if kind in ConferenceKind.values else None
    if kind_value is None:
        fields["kind"] = [_("会議の種類を選んでください。")]
    title_value = _text(title, max_length=200)
    if title_value is None:
        fields["title"] = [_("件名を200文字以内で入力してください。")]
    when = _check_when(
        fields,
        starts_at=starts_at,
        ends_at=ends_at,
        time_zone=time_zone,
        rule=recurrence_rule,
        kind=kind_value or "",
    )
    online = bool(is_online)
    place_value = _text(place, max_length=200, required=not online)
    if place_value is None:
        fields["place"] = [_("会場を入力するか、オンラインにしてください。")]
    url_value = _text(external_url, max_length=500, required=False) or ""
    if url_value:
        try:
            URLValidator(schemes=["https"])(url_value)
        except ValidationError:
            fields["external_url"] = [_("外部会議URLは https:// で始まるURLです。")]
    people = _ids(invitees)
    if people is None or len(people) > MAX_INVITEES:
        fields["invitees"] = [_("招待する人の指定が正しくありません。")]
        people = []
    orgs = _ids(organizations)
    if orgs is None:
        fields["organizations"] = [_("招待する組織の指定が正しくありません。")]
        orgs = []
    allowed_people = set(network_people(user).filter(pk__in=people).values_list("pk", flat=True))
    outside = sorted(set(people) - allowed_people)
    if outside:
        fields["invitees"] = [
            _("ネットワーク外の人は招待できません(%(n)d人)。") % {"n": len(outside)}
        ]
    allowed_orgs = set(network_organizations(user).filter(pk__in=orgs).values_list("pk", flat=True))
    if set(orgs) - allowed_orgs:
        fields["organizations"] = [_("ネットワーク外の組織は招待できません。")]
    items = _check_agenda(user, agenda, fields)
    everyone = allowed_people | {user.pk}
    members = list(
        Membership.objects.filter(
            organization_id__in=allowed_orgs, is_active=True, user__is_active=True
        ).values_list("user_id", "organization_id")
    )
    everyone |= {uid for uid, _org in members}
    if any(presenter not in everyone for _p, presenter, _q in items):
        fields.setdefault("agenda", []).append(_("発表者は招待した人から選んでください。"))
    if fields or when is None or kind_value is None or title_value is None:
        raise _invalid(fields)
    with transaction.atomic():
        conference = Conference.objects.create(
            kind=kind_value,
            title=title_value,
            organizer=user,
            time_zone=str(when.tz.key),
            starts_at=when.starts_at,
            ends_at=when.ends_at,
            recurrence=when.rule,
            is_online=online,
            place="" if online else (place_value or ""),
            external_url=url_value,
        )
        via = dict.fromkeys(allowed_people - {user.pk})
        for uid, org in members:
            if uid != user.pk and uid not in via:
                via[uid] = org
        Invitee.objects.bulk_create(
            [Invitee(conference=conference, user_id=uid, via_id=org) for uid, org in via.items()]
        )
        AgendaItem.objects.bulk_create(
            [
                AgendaItem(
                    conference=conference,
                    patient=patient,
                    presenter_id=presenter,
                    question=question,
                    position=n,
                )
                for n, (patient, presenter, question) in enumerate(items)
            ]
        )
        for patient, _presenter, _question in items:
            audit_record(user, AuditAction.CREATE, patient=patient, obj=conference)
        label = ConferenceKind(kind_value).label
        _notify_all(
            conference,
            via,
            kind="conference.invited",
            key=f"conference:{conference.pk}:invited",
            title=_("%(kind)s「%(title)s」への招待") % {"kind": label, "title": title_value},
            body=_when_words(conference, conference.starts_at),
        )
        if kind_value == ConferenceKind.DISCHARGE:
            first = occurrence_list(conference, after=conference.starts_at)[:1]
            for occurrence in first:
                _grant_guests(user, conference, occurrence)
    return conference


# --- occurrences ---------------------------------------------------------------------------


def _change(conference: Conference, occurrence: Occurrence) -> OccurrenceChange:
    change, created = OccurrenceChange.objects.select_for_update().get_or_create(
        conference=conference, original_start=occurrence.key
    )
    if not created:
        change.version += 1
    change.changed_at = timezone.now()
    return change


def occurrence_move(
    user: User, conference_id: Any, *, occurrence: Any, starts_at: Any, ends_at: Any
) -> OccurrenceChange:
    """Move one occurrence; every invitee is told at once."""
    conference = access_conference(user, conference_id, organize=True)
    found = find_occurrence(conference, occurrence)
    tz = recurrence.zone(conference.time_zone)
    start, end = parse_moment(starts_at, tz), parse_moment(ends_at, tz)
    fields: dict[str, list[str]] = {}
    if start is None:
        fields["starts_at"] = [_("開始日時を入力してください。")]
    if end is None:
        fields["ends_at"] = [_("終了日時を入力してください。")]
    if start is not None and end is not None and end <= start:
        fields["ends_at"] = [_("終了は開始より後にしてください。")]
    if start is not None and end is not None and end - start > MAX_DURATION:
        fields["ends_at"] = [_("会議は12時間以内にしてください。")]
    if found.cancelled:
        fields["occurrence"] = [_("中止した回は変更できません。")]
    if fields or start is None or end is None:
        raise _invalid(fields)
    with transaction.atomic():
        change = _change(conference, found)
        change.starts_at, change.ends_at = start, end
        change.save()
        moved = Occurrence(
            conference.pk, found.key, start, end, found.is_online, found.place, moved=True
        )
        _notify_all(
            conference,
            _participants(conference),
            kind="conference.moved",
            key=f"conference:{conference.pk}:{found.key_iso}:moved:{change.version}",
            title=_("「%(title)s」の日時が変わりました") % {"title": conference.title},
            body=_("%(old)s → %(new)s")
            % {
                "old": _when_words(conference, found.starts_at),
                "new": _when_words(conference, start),
            },
            urgency=Urgency.IMPORTANT,
        )
        _grant_guests(user, conference, moved)
    return change


def occurrence_cancel(user: User, conference_id: Any, *, occurrence: Any) -> OccurrenceChange:
    """Cancel one occurrence; every invitee is told at once, guests' grants end."""
    conference = access_conference(user, conference_id, organize=True)
    found = find_occurrence(conference, occurrence)
    if found.cancelled:
        raise _invalid({"occurrence": [_("この回はすでに中止されています。")]})
    with transaction.atomic():
        change = _change(conference, found)
        change.cancelled = True
        change.save()
        _notify_all(
            conference,
            _participants(conference),
            kind="conference.cancelled",
            key=f"conference:{conference.pk}:{found.key_iso}:cancelled",
            title=_("「%(title)s」は中止になりました") % {"title": conference.title},
            body=_when_words(conference, found.starts_at),
            urgency=Urgency.IMPORTANT,
        )
        if conference.kind == ConferenceKind.DISCHARGE:
            conference_grants_end(user, source_prefix=f"conference:{conference.pk}")
    return change


def occurrence_go_online(user: User, conference_id: Any, *, occurrence: Any) -> OccurrenceChange:
    """ "This meeting moves online": one in-person occurrence becomes an online one, and every
    invitee is told at once."""
    conference = access_conference(user, conference_id, organize=True)
    found = find_occurrence(conference, occurrence)
    if found.cancelled:
        raise _invalid({"occurrence": [_("中止した回は変更できません。")]})
    if found.is_online:
        raise _invalid({"occurrence": [_("この回はすでにオンラインです。")]})
    with transaction.atomic():
        change = _change(conference, found)
        change.is_online = True
        change.save()
        _notify_all(
            conference,
            _participants(conference),
            kind="conference.online",
            key=f"conference:{conference.pk}:{found.key_iso}:online",
            title=_("「%(title)s」はオンライン開催になりました") % {"title": conference.title},
            body=_when_words(conference, found.starts_at),
            urgency=Urgency.IMPORTANT,
        )
    return change


def rsvp_answer(user: User, conference_id: Any, *, occurrence: Any, answer: Any) -> Answer:
    """An invitee's 出席 / 欠席 / 未定 for one occurrence (the last answer counts)."""
    conference = access_conference(user, conference_id)
    if answer not in Rsvp.values:
        raise _invalid({"rsvp": [_("出席・欠席・未定から選んでください。")]})
    found = find_occurrence(conference, occurrence, with_cancelled=False)
    with transaction.atomic():
        row, _created = Answer.objects.update_or_create(
            conference=conference,
            user=user,
            occurrence=found.key,
            defaults={"rsvp": answer, "answered_at": timezone.now()},
        )
        if user.pk != conference.organizer_id:
            # The organizer hears each answer once (a change of mind is a new answer).
            notify(
                conference.organizer_id,
                kind="conference.rsvp",
                key=f"conference:{conference.pk}:{found.key_iso}:rsvp:{user.pk}:{answer}",
                title=_("%(user)sさん: 「%(title)s」に%(answer)s")
                % {"user": user, "title": conference.title, "answer": Rsvp(answer).label},
                url=conference_url(conference.pk),
                body=_when_words(conference, found.starts_at),
            )
    return row


# --- reminders -----------------------------------------------------------------------------


def reminders_send(now: dt.datetime | None = None) -> int:
    """Send the reminders that are due: 24 hours and 15 minutes before each occurrence, to
    each participant who has not answered 欠席. Exactly once per occurrence and person: the
    notice's key names both (a second sweep, or two workers at once, write nothing more).
    Returns the number of notices written."""
    now = now or timezone.now()
    horizon = now + REMINDERS[0][1]
    sent = 0
    moved_in = OccurrenceChange.objects.filter(
        conference=OuterRef("pk"), starts_at__gte=now, starts_at__lt=horizon
    )
    series = Conference.objects.filter(cancelled_at__isnull=True).filter(
        Q(starts_at__lt=horizon) | Exists(moved_in)
    )
    for conference in series.prefetch_related("changes"):
        for occurrence in occurrence_list(conference, after=now, before=horizon):
            left = occurrence.starts_at - now
            # The nearest reminder due, only: a meeting scheduled an hour ahead gets the
            # 15-minute one, not a "tomorrow" one as well.
            due = [name for name, ahead in REMINDERS if left <= ahead]
            if not due:
                continue
            name = due[-1]
            if name == "reminder-24h" and left <= REMINDERS[1][1]:
                continue
            absent = set(
                Answer.objects.filter(
                    conference=conference, occurrence=occurrence.key, rsvp=Rsvp.ABSENT
                ).values_list("user_id", flat=True)
            )
            start_iso = occurrence.starts_at.astimezone(dt.UTC).isoformat()
            for uid in sorted(set(_participants(conference)) - absent):
                with transaction.atomic():
                    made = notify(
                        uid,
                        kind="conference.reminder",
                        key=f"conference:{conference.pk}:{start_iso}:{name}",
                        title=_("まもなく「%(title)s」") % {"title": conference.title}
                        if name == "reminder-15m"
                        else _("明日までに「%(title)s」") % {"title": conference.title},
                        url=conference_url(conference.pk),
                        body=_when_words(conference, occurrence.starts_at),
                    )
                sent += made is not None
    return sent


# --- minutes -------------------------------------------------------------------------------


def _minutes_body(conference: Conference, occurrence: Occurrence, minutes: Minutes) -> str:
    tz = recurrence.zone(conference.time_zone)
    lines = [
        _("【カンファレンス記録】%(kind)s「%(title)s」%(when)s")
        % {
            "kind": ConferenceKind(conference.kind).label,
            "title": conference.title,
            "when": f"{occurrence.starts_at.astimezone(tz):%Y-%m-%d %H:%M}",
        },
        _("概要: %(text)s") % {"text": minutes.summary},
    ]
    if minutes.decisions:
        lines.append(_("決定事項: %(text)s") % {"text": minutes.decisions})
    steps = list(minutes.next_steps.select_related("owner"))
    if steps:
        lines.append(_("次のステップ:"))
        lines += [
            _("・%(text)s(担当: %(owner)s、期限: %(due)s)")
            % {"text": s.text, "owner": s.owner, "due": s.due.isoformat()}
            for s in steps
        ]
    lines.append(conference_url(conference.pk))
    # Free text from the minutes: its "@" must not mention (or fail to mention) anyone.
    return "\n".join(lines).replace("@", "＠")


def _check_steps(
    conference: Conference, steps: Any, fields: dict[str, list[str]]
) -> list[tuple[str, int, dt.date]]:
    if steps is None:
        return []
    if not isinstance(steps, list | tuple) or len(steps) > 20:
        fields["next_steps"] = [_("次のステップは20件までです。")]
        return []
    people = set(_participants(conference))
    out = []
    errors = []
    for n, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            errors.append(_("%(n)d件目: 形式が正しくありません。") % {"n": n})
            continue
        text = _text(step.get("text"), max_length=500)
        owner = _ids([step.get("owner")])
        due_raw = step.get("due")
        try:
            due = due_raw if isinstance(due_raw, dt.date) else parse_date(str(due_raw or ""))
        except ValueError:
            due = None
        if text is None:
            errors.append(_("%(n)d件目: 内容を500文字以内で入力してください。") % {"n": n})
        elif not owner or owner[0] not in people:
            errors.append(_("%(n)d件目: 担当者は会議の参加者から選んでください。") % {"n": n})
        elif due is None:
            errors.append(_("%(n)d件目: 期限を日付で入力してください。") % {"n": n})
        else:
            out.append((text, owner[0], due))
    if errors:
        fields["next_steps"] = errors
    return out


def minutes_save(
    user: User,
    conference_id: Any,
    *,
    item: Any,
    occurrence: Any,
    summary: Any,
    decisions: Any = "",
    next_steps: Any = (),
) -> Minutes:
    """The organizer saves the minutes of one agenda patient at one occurrence (during or
    after it). The first save posts them to the patient's contact book as the organizer's
    note, linked back to the conference; a later save edits that note."""
    conference = access_conference(user, conference_id, organize=True)
    item_ids = _ids([item])
    agenda_item = (
        AgendaItem.objects.filter(conference=conference, pk=item_ids[0]).first()
        if item_ids
        else None
    )
    if agenda_item is None:
        raise _invalid({"item": [_("この会議の議題ではありません。")]})
    found = find_occurrence(conference, occurrence, with_cancelled=False)
    fields: dict[str, list[str]] = {}
    if timezone.now() < found.starts_at - ROOM_MARGIN:
        fields["occurrence"] = [_("議事録は会議の開始後に書けます。")]
    summary_text = _text(summary, max_length=5000)
    if summary_text is None:
        fields["summary"] = [_("概要を5000文字以内で入力してください。")]
    decisions_text = _text(decisions, max_length=5000, required=False)
    if decisions_text is None:
        fields["decisions"] = [_("決定事項は5000文字以内です。")]
    steps = _check_steps(conference, next_steps, fields)
    if fields:
        raise _invalid(fields)
    # The note is the organizer's post: they must be able to post for the patient now.
    access_patient(user, agenda_item.patient_id, capability=Capability.POST)
    with transaction.atomic():
        minutes, _created = Minutes.objects.select_for_update().get_or_create(
            item=agenda_item,
            occurrence=found.key,
            defaults={"summary": summary_text or "", "written_by": user},
        )
        minutes.summary = summary_text or ""
        minutes.decisions = decisions_text or ""
        minutes.written_by = user
        minutes.saved_at = timezone.now()
        minutes.next_steps.all().delete()
        NextStep.objects.bulk_create(
            [NextStep(minutes=minutes, text=t, owner_id=o, due=d) for t, o, d in steps]
        )
        body = _minutes_body(conference, found, minutes)
        if minutes.thread_id is None:
            book = messaging_services.contact_book_ensure(agenda_item.patient)
            posted = messaging_services.message_post(
                user,
                thread=book,
                client_id=uuid.uuid5(uuid.NAMESPACE_URL, f"kizuna:minutes:{minutes.pk}"),
                body=body,
            )
            minutes.thread_id, minutes.seq = book.pk, posted.message.seq
        else:
            messaging_services.message_edit(
                user, thread=minutes.thread_id, seq=minutes.seq, body=body
            )
        minutes.save()
        audit_record(user, AuditAction.UPDATE, patient=agenda_item.patient_id, obj=minutes)
    return minutes


# --- calendar feed -------------------------------------------------------------------------


def feed_token_rotate(user: User) -> str:
    """A new secret for the person's calendar feed; the old URL stops working. Only the
    digest is kept, so the secret is shown once."""
    secret = secrets.token_urlsafe(32)
    FeedToken.objects.update_or_create(
        user=user, defaults={"digest": feed_digest(secret), "created_at": timezone.now()}
    )
    return secret


def feed_token_revoke(user: User) -> None:
    FeedToken.objects.filter(user=user).delete()


# --- the meeting room ----------------------------------------------------------------------

ROOM_MAX = 8  # a mesh: each browser sends its media to every other one
ROOM_STALE = dt.timedelta(seconds=90)  # three missed "still here" frames (every 30 s)
LOBBY_AFTER = dt.timedelta(minutes=10)  # later than this, the organizer lets people in


class RoomError(DomainError):
    """A room frame refused for the room's rules (not in it, full, closed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Peer:
    peer: str
    user_id: int
    name: str
    channel: str
    admitted: bool
    is_organizer: bool

    def public(self) -> dict[str, Any]:
        """What the other participants see of this peer."""
        return {
            "peer": self.peer,
            "user": self.user_id,
            "name": self.name,
            "organizer": self.is_organizer,
        }


def room_name(conference_id: int, key: dt.datetime) -> str:
    return f"{conference_id}-{int(key.timestamp())}"


def _room(room: Any) -> tuple[int, dt.datetime]:
    if not isinstance(room, str) or len(room) > 40:
        raise RoomError("invalid_frame", _("room は会議室の名前で指定してください。"))
    head, sep, tail = room.partition("-")
    if not sep or not head.isdigit() or not tail.isdigit() or not 0 < int(head) < 2**63:
        raise RoomError("invalid_frame", _("room は会議室の名前で指定してください。"))
    try:
        key = dt.datetime.fromtimestamp(int(tail), tz=dt.UTC)
    except (OverflowError, ValueError, OSError):
        raise RoomError("invalid_frame", _("room は会議室の名前で指定してください。")) from None
    return int(head), key


def room_check(user: User, room: Any) -> tuple[Conference, Occurrence]:
    """The conference and occurrence of `room`, if the user may be in it now: invited
    (`NotFound` otherwise, like a room that does not exist), the occurrence online and not
    cancelled, and now within its window plus the margin (`Forbidden`, with the reason)."""
    conference_id, key = _room(room)
    conference = access_conference(user, conference_id)
    try:
        found = find_occurrence(conference, key)
    except DomainError:
        raise NotFound from None
    if found.cancelled:
        raise Forbidden(_("この回は中止されました。"))
    if not found.is_online or conference.external_url:
        raise Forbidden(_("この回はこの会議室では開催されません。"))
    now = timezone.now()
    if not found.starts_at - ROOM_MARGIN <= now <= found.ends_at + ROOM_MARGIN:
        raise Forbidden(_("会議室は開始30分前から終了30分後まで入れます。"))
    return conference, found


def _peers(conference: Conference, key: dt.datetime, *, admitted: bool | None = True) -> list[Peer]:
    rows = Attendance.objects.filter(
        conference=conference,
        occurrence=key,
        left_at__isnull=True,
        seen_at__gte=timezone.now() - ROOM_STALE,
    ).select_related("user")
    if admitted is not None:
        rows = rows.filter(admitted=admitted)
    return [
        Peer(
            peer=r.peer,
            user_id=r.user_id,
            name=str(r.user),
            channel=r.channel,
            admitted=r.admitted,
            is_organizer=r.user_id == conference.organizer_id,
        )
        for r in rows.order_by("joined_at", "pk")
    ]


@dataclass(frozen=True)
class Joined:
    me: Peer
    peers: list[Peer]  # the others in the room (admitted)
    organizers: list[Peer]  # the organizer's sockets in the room, told of a lobby guest


def room_join(user: User, *, room: Any, channel: str) -> Joined:
    """Enter the room with the socket `channel`: at once, or into the lobby when late (more
    than ten minutes after the start), where the organizer lets them in. At most `ROOM_MAX`
    in the room. The attendance log starts here."""
    conference, found = room_check(user, room)
    organizer = conference.organizer_id == user.pk
    with transaction.atomic():
        # One join at a time per conference: the count below stays true.
        Conference.objects.select_for_update().filter(pk=conference.pk).first()
        now = timezone.now()
        # Sockets that died with their process: they left when they were last seen.
        Attendance.objects.filter(
            conference=conference,
            occurrence=found.key,
            left_at__isnull=True,
            seen_at__lt=now - ROOM_STALE,
        ).update(left_at=F("seen_at"))
        mine = Attendance.objects.filter(
            conference=conference, occurrence=found.key, channel=channel, left_at__isnull=True
        ).first()
        if mine is None:
            admitted = organizer or timezone.now() <= found.starts_at + LOBBY_AFTER
            if admitted and len(_peers(conference, found.key)) >= ROOM_MAX:
                raise RoomError("room_full", _("会議室は%(n)d人までです。") % {"n": ROOM_MAX})
            mine = Attendance.objects.create(
                conference=conference,
                occurrence=found.key,
                user=user,
                peer=secrets.token_hex(8),
                channel=channel,
                admitted=admitted,
                admitted_at=now if admitted else None,
                joined_at=now,
                seen_at=now,
            )
    everyone = _peers(conference, found.key, admitted=None)
    me = next(p for p in everyone if p.peer == mine.peer)
    return Joined(
        me=me,
        peers=[p for p in everyone if p.admitted and p.peer != me.peer],
        organizers=[p for p in everyone if p.admitted and p.is_organizer and p.peer != me.peer],
    )


def room_admit(user: User, *, room: Any, peer: Any) -> Joined:
    """The organizer lets a lobby guest in."""
    conference, found = room_check(user, room)
    if conference.organizer_id != user.pk:
        raise Forbidden(_("この操作は会議の主催者が行います。"))
    with transaction.atomic():
        Conference.objects.select_for_update().filter(pk=conference.pk).first()
        row = Attendance.objects.filter(
            conference=conference, occurrence=found.key, peer=str(peer), left_at__isnull=True
        ).first()
        if row is None:
            raise RoomError("not_in_room", _("その参加者はロビーにいません。"))
        if not row.admitted:
            if len(_peers(conference, found.key)) >= ROOM_MAX:
                raise RoomError("room_full", _("会議室は%(n)d人までです。") % {"n": ROOM_MAX})
            row.admitted, row.admitted_at = True, timezone.now()
            row.save(update_fields=["admitted", "admitted_at"])
    everyone = _peers(conference, found.key)
    me = next(p for p in everyone if p.peer == row.peer)
    return Joined(me=me, peers=[p for p in everyone if p.peer != me.peer], organizers=[])


def room_sender(user: User, *, room: Any, channel: str) -> tuple[Conference, Occurrence, Peer]:
    """The socket's place in `room`: `RoomError` "not_in_room" when it has none (a frame for
    a room it did not join, or another room than its own)."""
    conference_id, key = _room(room)
    row = (
        Attendance.objects.filter(
            conference_id=conference_id,
            occurrence=key,
            channel=channel,
            user=user,
            left_at__isnull=True,
            admitted=True,
            seen_at__gte=timezone.now() - ROOM_STALE,
        )
        .select_related("conference")
        .first()
    )
    if row is None:
        raise RoomError("not_in_room", _("この会議室に入っていません。"))
    conference = row.conference
    me = Peer(row.peer, user.pk, str(user), channel, True, conference.organizer_id == user.pk)
    found = Occurrence(conference.pk, key, key, key, True, "")
    return conference, found, me


def room_target(user: User, *, room: Any, channel: str, to: Any) -> tuple[Peer, str]:
    """Who sends (their peer) and the channel of the peer `to` in the same room."""
    conference, found, me = room_sender(user, room=room, channel=channel)
    target = (
        Attendance.objects.filter(
            conference=conference,
            occurrence=found.key,
            peer=to if isinstance(to, str) else "",
            left_at__isnull=True,
            admitted=True,
            seen_at__gte=timezone.now() - ROOM_STALE,
        )
        .values_list("channel", flat=True)
        .first()
    )
    if target is None:
        raise RoomError("not_in_room", _("その参加者はこの会議室にいません。"))
    return me, target


def room_here(user: User, *, room: Any, channel: str) -> None:
    """The socket is still in `room` (or its lobby): its row stays current. `RoomError`
    "not_in_room" when it has no row there (it was taken for gone: join again)."""
    conference_id, key = _room(room)
    seen = Attendance.objects.filter(
        conference_id=conference_id,
        occurrence=key,
        channel=channel,
        user=user,
        left_at__isnull=True,
    ).update(seen_at=timezone.now())
    if not seen:
        raise RoomError("not_in_room", _("この会議室に入っていません。"))


def room_members(user: User, *, room: Any, channel: str) -> tuple[Peer, list[Peer]]:
    """The sender and everyone admitted in its room (the sender included)."""
    conference, found, me = room_sender(user, room=room, channel=channel)
    return me, _peers(conference, found.key)


@dataclass(frozen=True)
class Left:
    room: str
    peer: str
    others: list[str]  # the channels still in that room


def room_leave(*, channel: str, room: Any = None) -> list[Left]:
    """The socket leaves its room (every room, when it closes): the attendance log ends."""
    rows = Attendance.objects.filter(channel=channel, left_at__isnull=True)
    if room is not None:
        conference_id, key = _room(room)
        rows = rows.filter(conference_id=conference_id, occurrence=key)
    out = []
    now = timezone.now()
    for row in rows.select_related("conference"):
        Attendance.objects.filter(pk=row.pk).update(left_at=now)
        others = [p.channel for p in _peers(row.conference, row.occurrence, admitted=None)]
        out.append(Left(room_name(row.conference_id, row.occurrence), row.peer, others))
    return out


def attendance_log(user: User, conference_id: Any, *, occurrence: Any) -> list[Attendance]:
    """Who was in the room of one occurrence, from when to when (the organizer's)."""
    conference = access_conference(user, conference_id, organize=True)
    found = find_occurrence(conference, occurrence)
    return list(
        Attendance.objects.filter(conference=conference, occurrence=found.key)
        .select_related("user")
        .order_by("joined_at", "pk")
    )
