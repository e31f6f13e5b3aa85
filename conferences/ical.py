"""iCalendar for conferences: a person's feed and a per-conference download.

A series is one VEVENT with its RRULE; a cancelled occurrence is an EXDATE; a moved (or
turned online) occurrence is a second VEVENT with the same UID and a RECURRENCE-ID naming
the original start, so calendar apps show each right. Times carry the organizer's time zone
(a VTIMEZONE is added for it). UNTIL is given in UTC, as RFC 5545 asks when DTSTART has a
TZID.

A feed is fetched by a calendar app without a session: it says no patient's name, only how
many patients are on the agenda and the conference's page, which asks who is reading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vRecur

from conferences import recurrence
from conferences.models import Conference, ConferenceKind

PRODID = "-//Kizuna//conferences//JA"


def _rrule(conference: Conference) -> vRecur:
    tz = recurrence.zone(conference.time_zone)
    parts: dict[str, object] = {}
    for piece in conference.recurrence.split(";"):
        name, _sep, value = piece.partition("=")
        if name == "UNTIL":
            local = dt.datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=tz)
            parts[name] = local.astimezone(dt.UTC)
        elif name in {"COUNT", "INTERVAL", "BYMONTHDAY", "BYMONTH"}:
            parts[name] = [int(v) for v in value.split(",")]
        else:
            parts[name] = value.split(",")
    return vRecur(parts)


def _event(conference: Conference, base_url: str, stamp: dt.datetime) -> Event:
    event = Event()
    event.add("uid", f"conference-{conference.pk}@kizuna")
    event.add("dtstamp", stamp)
    event.add("summary", f"{ConferenceKind(conference.kind).label}: {conference.title}")
    event.add("url", f"{base_url}/conferences/{conference.pk}/")
    count = len(conference.agenda.all())
    description = [f"{base_url}/conferences/{conference.pk}/"]
    if count:
        description.insert(0, _("議題: 患者%(n)d名") % {"n": count})
    if conference.external_url:
        description.append(conference.external_url)
    event.add("description", "\n".join(description))
    event.add("organizer", f"mailto:{conference.organizer.email or 'noreply@kizuna.invalid'}")
    return event


def _where(is_online: bool, place: str) -> str:
    return str(_("オンライン")) if is_online else place


def conference_events(conference: Conference, *, base_url: str, stamp: dt.datetime) -> list[Event]:
    """The VEVENTs of one conference: the series, and one per changed occurrence."""
    tz = recurrence.zone(conference.time_zone)
    changes = list(conference.changes.all())
    main = _event(conference, base_url, stamp)
    start, end = conference.starts_at, conference.ends_at
    online, place = conference.is_online, conference.place
    if not conference.recurrence:
        # One meeting: a change is the meeting itself.
        for change in changes:
            if change.starts_at and change.ends_at:
                start, end = change.starts_at, change.ends_at
            if change.is_online:
                online = True
            if change.cancelled:
                main.add("status", "CANCELLED")
            main.add("sequence", change.version)
    main.add("dtstart", start.astimezone(tz))
    main.add("dtend", end.astimezone(tz))
    main.add("location", _where(online, place))
    if not conference.recurrence:
        return [main]
    main.add("rrule", _rrule(conference))
    cancelled = [c.original_start.astimezone(tz) for c in changes if c.cancelled]
    if cancelled:
        main.add("exdate", cancelled)
    events = [main]
    for change in changes:
        if change.cancelled:
            continue
        moved = _event(conference, base_url, stamp)
        moved.add("recurrence-id", change.original_start.astimezone(tz))
        start = change.starts_at or change.original_start
        end = change.ends_at or change.original_start + (conference.ends_at - conference.starts_at)
        moved.add("dtstart", start.astimezone(tz))
        moved.add("dtend", end.astimezone(tz))
        moved.add(
            "location",
            _where(
                change.is_online if change.is_online is not None else conference.is_online,
                change.place or conference.place,
            ),
        )
        moved.add("sequence", change.version)
        events.append(moved)
    return events


def calendar(conferences: Iterable[Conference], *, base_url: str, name: str) -> bytes:
    """An iCalendar document of `conferences`."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    stamp = timezone.now().astimezone(dt.UTC).replace(microsecond=0)
    for conference in conferences:
        for event in conference_events(conference, base_url=base_url, stamp=stamp):
            cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
