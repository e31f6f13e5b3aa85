"""Recurrence: the rule checked, put in words, and expanded with moves and cancellations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from conferences import recurrence
from config.errors import DomainError

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
START = dt.datetime(2026, 12, 17, 19, 0, tzinfo=TOKYO)  # the third Thursday of December
THIRD_THURSDAY = "FREQ=MONTHLY;BYDAY=3TH;COUNT=12"


@dataclass
class Change:
    original_start: dt.datetime
    cancelled: bool = False
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    is_online: bool | None = None
    place: str = ""


def expand(rule=THIRD_THURSDAY, changes=(), start=START, tz=TOKYO, **kw):
    return recurrence.expand(
        conference_id=1,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1, minutes=30),
        rule_text=recurrence.check_rule(rule, start, tz),
        tz=tz,
        is_online=False,
        place="みどり在宅クリニック 会議室",
        changes=changes,
        after=kw.pop("after", start - dt.timedelta(days=1)),
        before=kw.pop("before", start + dt.timedelta(days=400)),
        **kw,
    )


def test_third_thursday_over_a_year_is_twelve_thursdays_at_19_in_tokyo():
    found = expand()
    assert len(found) == 12
    for occurrence in found:
        local = occurrence.starts_at.astimezone(TOKYO)
        assert local.weekday() == 3
        assert 15 <= local.day <= 21
        assert (local.hour, local.minute) == (19, 0)
        assert occurrence.ends_at - occurrence.starts_at == dt.timedelta(hours=1, minutes=30)
    assert [o.starts_at.astimezone(TOKYO).date() for o in found][:4] == [
        dt.date(2026, 12, 17),
        dt.date(2027, 1, 21),
        dt.date(2027, 2, 18),
        dt.date(2027, 3, 18),
    ]


def test_a_moved_occurrence_keeps_its_name_and_takes_its_new_time():
    january = dt.datetime(2027, 1, 21, 19, 0, tzinfo=TOKYO)
    new_start = dt.datetime(2027, 1, 22, 18, 0, tzinfo=TOKYO)
    found = expand(
        changes=[Change(january, starts_at=new_start, ends_at=new_start + dt.timedelta(hours=1))]
    )
    assert len(found) == 12
    moved = [o for o in found if o.moved]
    assert len(moved) == 1
    assert moved[0].key == january.astimezone(dt.UTC)
    assert moved[0].starts_at == new_start
    assert moved[0].ends_at - moved[0].starts_at == dt.timedelta(hours=1)


def test_a_cancelled_occurrence_is_left_out_unless_asked_for():
    february = dt.datetime(2027, 2, 18, 19, 0, tzinfo=TOKYO)
    assert len(expand(changes=[Change(february, cancelled=True)])) == 11
    with_cancelled = expand(changes=[Change(february, cancelled=True)], with_cancelled=True)
    assert [o.cancelled for o in with_cancelled].count(True) == 1


def test_an_occurrence_moved_into_the_window_from_outside_it_is_found():
    january = dt.datetime(2027, 1, 21, 19, 0, tzinfo=TOKYO)
    earlier = dt.datetime(2027, 1, 5, 19, 0, tzinfo=TOKYO)
    found = expand(
        changes=[Change(january, starts_at=earlier, ends_at=earlier + dt.timedelta(hours=1))],
        after=dt.datetime(2027, 1, 1, tzinfo=TOKYO),
        before=dt.datetime(2027, 1, 10, tzinfo=TOKYO),
    )
    assert [o.starts_at for o in found] == [earlier]


def test_an_occurrence_turned_online_has_no_place():
    january = dt.datetime(2027, 1, 21, 19, 0, tzinfo=TOKYO)
    found = expand(changes=[Change(january, is_online=True)])
    online = [o for o in found if o.is_online]
    assert len(online) == 1
    assert online[0].place == ""
    assert online[0].starts_at == january


def test_an_invitee_in_london_sees_the_tokyo_meeting_at_10_in_winter_and_11_in_summer():
    found = expand()
    london = {o.starts_at.astimezone(LONDON).month: o.starts_at.astimezone(LONDON) for o in found}
    assert london[1].hour == 10  # GMT: Tokyo is 9 hours ahead
    assert london[7].hour == 11  # BST: 8 hours ahead


def test_an_organizer_in_new_york_keeps_19_00_across_daylight_saving():
    start = dt.datetime(2027, 1, 21, 19, 0, tzinfo=NEW_YORK)
    found = expand(start=start, tz=NEW_YORK)
    assert {o.starts_at.astimezone(NEW_YORK).hour for o in found} == {19}
    utc_hours = {o.starts_at.astimezone(dt.UTC).hour for o in found}
    assert utc_hours == {0, 23}  # EST is UTC-5, EDT UTC-4: the next day at 00:00 or 23:00 UTC


def test_the_rule_in_words_is_the_builders():
    assert recurrence.describe("FREQ=MONTHLY;BYDAY=3TH;COUNT=12", START, TOKYO) == (
        "毎月第3木曜日 19:00(12回)"
    )
    built = recurrence.build_rule(
        "monthly_weekday", START, TOKYO, until=dt.date(2027, 12, 31), count=None
    )
    assert built == "FREQ=MONTHLY;BYDAY=3TH;UNTIL=20271231T235959"
    assert recurrence.describe(built, START, TOKYO) == "毎月第3木曜日 19:00(2027-12-31まで)"
    assert recurrence.describe("FREQ=WEEKLY;BYDAY=TH;COUNT=4", START, TOKYO) == (
        "毎週木曜日 19:00(4回)"
    )


def test_is_occurrence_names_only_the_series_starts():
    rule = recurrence.check_rule(THIRD_THURSDAY, START, TOKYO)
    assert recurrence.is_occurrence(starts_at=START, rule_text=rule, tz=TOKYO, key=START)
    assert not recurrence.is_occurrence(
        starts_at=START, rule_text=rule, tz=TOKYO, key=START + dt.timedelta(days=7)
    )


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=MONTHLY;BYDAY=3TH", "終わり"),
        ("FREQ=MONTHLY;BYDAY=3TH;COUNT=500", "回数"),
        ("FREQ=MONTHLY;BYDAY=3TH;UNTIL=20300101", "2年以内"),
        ("FREQ=HOURLY;COUNT=3", "頻度"),
        ("FREQ=MONTHLY;BYHOUR=3;COUNT=3", "使えない"),
        ("FREQ=MONTHLY;COUNT=2;COUNT=3", "2回"),
        ("FREQ=MONTHLY;COUNT=3;UNTIL=20270101", "どちらか"),
        ("nonsense", "読み取れません"),
        ("FREQ=MONTHLY;BYDAY=9ZZ;COUNT=3", "読み取れません"),
        ("FREQ=MONTHLY;UNTIL=20261201", "初回より後"),
    ],
)
def test_a_bad_rule_is_refused_with_words_on_the_field(rule, words):
    with pytest.raises(DomainError) as caught:
        recurrence.check_rule(rule, START, TOKYO)
    assert words in caught.value.fields["recurrence"][0]


def test_an_until_in_utc_is_kept_as_wall_clock_time_in_the_organizers_zone():
    rule = recurrence.check_rule("FREQ=MONTHLY;BYDAY=3TH;UNTIL=20270318T100000Z", START, TOKYO)
    assert rule == "FREQ=MONTHLY;BYDAY=3TH;UNTIL=20270318T190000"
    assert len(expand(rule)) == 4
