"""The demo's monthly case review: third Thursday 19:00 Tokyo, the network invited, an agenda
patient; seeding twice leaves one series."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from conferences import selectors
from conferences.management.commands.seed_demo_conferences import TITLE, third_thursday_at_19
from conferences.models import AgendaItem, Conference, Invitee

TOKYO = ZoneInfo("Asia/Tokyo")


def test_the_third_thursday_is_this_months_or_the_next():
    assert third_thursday_at_19(dt.date(2026, 12, 3)) == dt.datetime(2026, 12, 17, 19, tzinfo=TOKYO)
    assert third_thursday_at_19(dt.date(2026, 12, 18)) == dt.datetime(2027, 1, 21, 19, tzinfo=TOKYO)


@pytest.mark.django_db
def test_seed_demo_conferences_fills_the_calendar_once():
    call_command("seed_demo")
    call_command("seed_demo_conferences")
    call_command("seed_demo_conferences")
    conference = Conference.objects.get(title=TITLE)
    assert conference.recurrence == "FREQ=MONTHLY;BYDAY=3TH;COUNT=12"
    occurrences = selectors.occurrence_list(conference, after=conference.starts_at)
    assert len(occurrences) == 12
    for o in occurrences:
        local = o.starts_at.astimezone(TOKYO)
        assert (local.weekday(), local.hour, 15 <= local.day <= 21) == (3, 19, True)
    assert AgendaItem.objects.filter(conference=conference).count() == 1
    assert Invitee.objects.filter(conference=conference).count() > 10
