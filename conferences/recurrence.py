"""Recurrence: checking RFC 5545 rules, putting them in words, and expanding occurrences.

A rule repeats a conference's first occurrence in the organizer's time zone: "monthly on the
third Thursday at 19:00" stays at 19:00 there across daylight-saving changes, whatever the
instant is in UTC. The rule is expanded on wall-clock (naive) times in that zone with
python-dateutil and each start is put back in the zone. An occurrence is named by its original
start; `OccurrenceChange` rows move, cancel or turn online single occurrences.

Every rule must end (UNTIL or COUNT), within `MAX_SPAN_DAYS` and `MAX_COUNT`: the form offers
no more, and an endless series would make every calendar feed and reminder sweep unbounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from django.utils.translation import gettext as _

from config.errors import DomainError

MAX_SPAN_DAYS = 731  # two years
MAX_COUNT = 104  # a weekly meeting for two years
ALLOWED_FREQS = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
# The parts a rule may use: the builder's and what calendar apps commonly send.
ALLOWED_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_WORDS = ("月", "火", "水", "木", "金", "土", "日")


def _fail(message: str) -> DomainError:
    return DomainError(_("入力内容を確認してください。"), fields={"recurrence": [message]})


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            _("入力内容を確認してください。"),
            fields={"time_zone": [_("タイムゾーンが不明です。")]},
        ) from None


def local_naive(at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise _fail(_("繰り返しの規則を読み取れません。"))
        if name not in ALLOWED_PARTS:
            raise _fail(_("繰り返しの規則に使えない項目があります: %(part)s") % {"part": name})
        if name in parts:
            raise _fail(_("繰り返しの規則に同じ項目が2回あります: %(part)s") % {"part": name})
        parts[name] = value.strip().upper()
    return parts


def check_rule(text: object, start: dt.datetime, tz: ZoneInfo) -> str:
    """The rule, checked and normalised ("" for none), for a series whose first occurrence
    starts at `start`. Raises `DomainError` on the field `recurrence`."""
    if text is None or text == "":
        return ""
    if not isinstance(text, str) or len(text) > 300:
        raise _fail(_("繰り返しの規則を読み取れません。"))
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts = _parts(body)
    if parts.get("FREQ") not in ALLOWED_FREQS:
        raise _fail(_("繰り返しの頻度は毎日・毎週・毎月・毎年のいずれかです。"))
    if "UNTIL" not in parts and "COUNT" not in parts:
        raise _fail(_("繰り返しの終わり(回数か終了日)を指定してください。"))
    if "UNTIL" in parts and "COUNT" in parts:
        raise _fail(_("回数と終了日のどちらか一方を指定してください。"))
    if "UNTIL" in parts:
        # Wall-clock UNTIL in the organizer's zone, as the series itself (a "Z" UTC form is
        # turned into it): dateutil needs both naive.
        until_text = parts["UNTIL"]
        try:
            if until_text.endswith("Z"):
                until_utc = dt.datetime.strptime(until_text, "%Y%m%dT%H%M%SZ").replace(
                    tzinfo=dt.UTC
                )
                until = local_naive(until_utc, tz)
            # Wall-clock times in the organizer's zone, naive on purpose (see above).
            elif "T" in until_text:
                until = dt.datetime.strptime(until_text, "%Y%m%dT%H%M%S")  # noqa: DTZ007
            else:
                until = dt.datetime.strptime(until_text, "%Y%m%d").replace(  # noqa: DTZ007
                    hour=23, minute=59, second=59
                )
        except ValueError:
            raise _fail(_("終了日を読み取れません。")) from None
        if until > local_naive(start, tz) + dt.timedelta(days=MAX_SPAN_DAYS):
            raise _fail(_("繰り返しは開始から2年以内で終わるようにしてください。"))
        if until < local_naive(start, tz):
            raise _fail(_("終了日は初回より後にしてください。"))
        parts["UNTIL"] = until.strftime("%Y%m%dT%H%M%S")
    if "COUNT" in parts and (
        not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= MAX_COUNT
    ):
        raise _fail(_("回数は1〜%(max)d回で指定してください。") % {"max": MAX_COUNT})
    normalised = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = rrule.rrulestr(normalised, dtstart=local_naive(start, tz))
        last = list(rule)[-1:] if isinstance(rule, rrule.rrule) else []
    except (ValueError, TypeError, IndexError):
        raise _fail(_("繰り返しの規則を読み取れません。")) from None
    if not last:
        raise _fail(_("この規則では1回も開催されません。"))
    if last[0] > local_naive(start, tz) + dt.timedelta(days=MAX_SPAN_DAYS):
        raise _fail(_("繰り返しは開始から2年以内で終わるようにしてください。"))
    return normalised


def build_rule(
    pattern: str, start: dt.datetime, tz: ZoneInfo, *, until: dt.date | None, count: int | None
) -> str:
    """The rule the form's builder makes from words: `pattern` is "none", "weekly",
    "biweekly", "monthly_weekday" (the n-th weekday of the start, e.g. the third Thursday),
    "monthly_date" (the start's day of the month)."""
    if pattern == "none":
        return ""
    local = start.astimezone(tz)
    day = WEEKDAYS[local.weekday()]
    nth = (local.day - 1) // 7 + 1
    base = {
        "weekly": f"FREQ=WEEKLY;BYDAY={day}",
        "biweekly": f"FREQ=WEEKLY;INTERVAL=2;BYDAY={day}",
        "monthly_weekday": f"FREQ=MONTHLY;BYDAY={nth}{day}",
        "monthly_date": f"FREQ=MONTHLY;BYMONTHDAY={local.day}",
    }.get(pattern)
    if base is None:
        raise _fail(_("繰り返しの種類を選んでください。"))
    if until is not None:
        return check_rule(f"{base};UNTIL={until:%Y%m%d}T235959", start, tz)
    if count is not None:
        return check_rule(f"{base};COUNT={count}", start, tz)
    raise _fail(_("繰り返しの終わり(回数か終了日)を指定してください。"))


def describe(rule_text: str, start: dt.datetime, tz: ZoneInfo) -> str:
    """The rule in words, as the builder shows it: 毎月第3木曜日 19:00."""
    local = start.astimezone(tz)
    clock = f"{local:%H:%M}"
    if not rule_text:
        return f"{local:%Y-%m-%d} {clock}"
    parts = dict(p.split("=", 1) for p in rule_text.split(";"))
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    byday = parts.get("BYDAY", "")
    words = ""
    if freq == "WEEKLY":
        days = [WEEKDAY_WORDS[WEEKDAYS.index(d[-2:])] for d in byday.split(",") if d] or [
            WEEKDAY_WORDS[local.weekday()]
        ]
        words = (_("毎週") if interval == 1 else _("%(n)d週ごと") % {"n": interval}) + "・".join(
            f"{d}曜日" for d in days
        )
    elif freq == "MONTHLY":
        prefix = _("毎月") if interval == 1 else _("%(n)dか月ごと") % {"n": interval}
        if byday and byday[:-2].lstrip("+-").isdigit():
            n = int(byday[:-2])
            nth = _("最終") if n == -1 else _("第%(n)d") % {"n": n}
            words = f"{prefix}{nth}{WEEKDAY_WORDS[WEEKDAYS.index(byday[-2:])]}曜日"
        else:
            words = f"{prefix}{parts.get('BYMONTHDAY', local.day)}日"
    elif freq == "DAILY":
        words = _("毎日") if interval == 1 else _("%(n)d日ごと") % {"n": interval}
    else:
        words = _("毎年%(m)d月%(d)d日") % {"m": local.month, "d": local.day}
    ending = ""
    if "COUNT" in parts:
        ending = _("(%(n)s回)") % {"n": parts["COUNT"]}
    elif "UNTIL" in parts:
        u = parts["UNTIL"]
        ending = _("(%(y)s-%(m)s-%(d)sまで)") % {"y": u[:4], "m": u[4:6], "d": u[6:8]}
    return f"{words} {clock}{ending}"


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a conference. `key` is its original start (UTC), which names it."""

    conference_id: int
    key: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime
    is_online: bool
    place: str
    cancelled: bool = False
    moved: bool = False

    @property
    def key_iso(self) -> str:
        return self.key.astimezone(dt.UTC).isoformat()


class ChangeLike(Protocol):
    """What `expand` reads of an `OccurrenceChange` (its model satisfies it)."""

    @property
    def original_start(self) -> dt.datetime: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def starts_at(self) -> dt.datetime | None: ...
    @property
    def ends_at(self) -> dt.datetime | None: ...
    @property
    def is_online(self) -> bool | None: ...
    @property
    def place(self) -> str: ...


def original_starts(
    *,
    starts_at: dt.datetime,
    rule_text: str,
    tz: ZoneInfo,
    after: dt.datetime,
    before: dt.datetime,
) -> list[dt.datetime]:
    """The original starts (aware, UTC) in [after, before)."""
    if not rule_text:
        return [starts_at.astimezone(dt.UTC)] if after <= starts_at < before else []
    rule = rrule.rrulestr(rule_text, dtstart=local_naive(starts_at, tz))
    lo = local_naive(after, tz) - dt.timedelta(hours=3)  # a DST gap or fold either way
    hi = local_naive(before, tz) + dt.timedelta(hours=3)
    found = []
    for naive in rule.between(lo, hi, inc=True):
        at = naive.replace(tzinfo=tz).astimezone(dt.UTC)
        if after <= at < before:
            found.append(at)
    return found


def is_occurrence(
    *, starts_at: dt.datetime, rule_text: str, tz: ZoneInfo, key: dt.datetime
) -> bool:
    """Whether `key` is an original start of the series."""
    return key in original_starts(
        starts_at=starts_at,
        rule_text=rule_text,
        tz=tz,
        after=key,
        before=key + dt.timedelta(seconds=1),
    )


def expand(
    *,
    conference_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    rule_text: str,
    tz: ZoneInfo,
    is_online: bool,
    place: str,
    changes: Iterable[ChangeLike],
    after: dt.datetime,
    before: dt.datetime,
    with_cancelled: bool = False,
) -> list[Occurrence]:
    """The occurrences that start in [after, before), moves and cancellations applied, by
    start. A moved occurrence counts where it now is; a cancelled one is left out unless
    `with_cancelled`."""
    duration = ends_at - starts_at
    by_key = {c.original_start.astimezone(dt.UTC): c for c in changes}
    keys = set(
        original_starts(starts_at=starts_at, rule_text=rule_text, tz=tz, after=after, before=before)
    )
    # Moved into the window from outside it.
    keys |= {
        k for k, c in by_key.items() if c.starts_at is not None and after <= c.starts_at < before
    }
    out: list[Occurrence] = []
    for key in keys:
        change = by_key.get(key)
        start, end = key, key + duration
        online, where = is_online, place
        cancelled = moved = False
        if change is not None:
            if change.starts_at is not None and change.ends_at is not None:
                start, end, moved = change.starts_at, change.ends_at, True
            if change.is_online is not None:
                online = change.is_online
            if change.place:
                where = change.place
            cancelled = change.cancelled
        if not after <= start < before:
            continue  # moved out of the window
        if cancelled and not with_cancelled:
            continue
        out.append(
            Occurrence(
                conference_id=conference_id,
                key=key,
                starts_at=start,
                ends_at=end,
                is_online=online,
                place="" if online else where,
                cancelled=cancelled,
                moved=moved,
            )
        )
    out.sort(key=lambda o: (o.starts_at, o.conference_id))
    return out
