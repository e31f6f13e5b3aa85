"""The iCalendar feed and download, parsed back strictly: the series as RRULE, a cancelled
occurrence as EXDATE, a moved one as a RECURRENCE-ID event; the feed's secret revocable."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from django.test import Client
from icalendar import Calendar

from conferences import services
from conferences.models import FeedToken

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
START = dt.datetime(2027, 1, 21, 19, 0, tzinfo=TOKYO)  # a third Thursday


def rule(event):
    # icalendar's property values are a union mypy cannot index; a test reads them as they are.
    return event["RRULE"]


def parse(body: bytes) -> Calendar:
    # Strict: a document icalendar cannot read, or with a broken component, fails here.
    cal = Calendar.from_ical(body)
    for component in cal.walk():
        assert not component.errors, (component.name, component.errors)
    return cal


@pytest.fixture
def series(net, schedule):
    conference = schedule(
        starts_at=START, ends_at=START + dt.timedelta(hours=1),
        recurrence_rule="FREQ=MONTHLY;BYDAY=3TH;COUNT=12",
    )  # fmt: skip
    february = dt.datetime(2027, 2, 18, 19, 0, tzinfo=TOKYO)
    march = dt.datetime(2027, 3, 18, 19, 0, tzinfo=TOKYO)
    services.occurrence_cancel(net.primary, conference.pk, occurrence=february)
    new = dt.datetime(2027, 3, 19, 18, 30, tzinfo=TOKYO)
    services.occurrence_move(
        net.primary, conference.pk, occurrence=march, starts_at=new,
        ends_at=new + dt.timedelta(hours=1),
    )  # fmt: skip
    return conference, february, march, new


def download(user, conference) -> bytes:
    client = Client()
    client.force_login(user)
    response = client.get(f"/conferences/{conference.pk}/conference.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return response.content


def test_the_download_is_a_series_with_exdate_and_a_recurrence_id(net, series):
    conference, february, march, new = series
    cal = parse(download(net.nurse, conference))
    events = cal.walk("VEVENT")
    assert len(events) == 2
    main = next(e for e in events if "RRULE" in e)
    assert main["UID"] == f"conference-{conference.pk}@kizuna"
    assert main.decoded("DTSTART") == START
    assert str(main.decoded("DTSTART").tzinfo) == "Asia/Tokyo"
    assert rule(main)["FREQ"] == ["MONTHLY"]
    assert rule(main)["BYDAY"] == ["3TH"]
    assert rule(main)["COUNT"] == [12]
    assert [d.dt for d in main["EXDATE"].dts] == [february]
    moved = next(e for e in events if "RECURRENCE-ID" in e)
    assert moved["UID"] == main["UID"]
    assert moved.decoded("RECURRENCE-ID") == march
    assert moved.decoded("DTSTART") == new
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Asia/Tokyo"
    # No patient's name leaves in a calendar file.
    assert net.patient.name.encode() not in download(net.nurse, conference)


def test_a_calendar_app_expands_the_feed_to_what_the_page_shows(net, series):
    conference, february, march, new = series
    cal = parse(download(net.nurse, conference))
    starts = [
        e.decoded("DTSTART")
        for e in recurring_ical_events.of(cal).between(
            dt.datetime(2027, 1, 1, tzinfo=TOKYO), dt.datetime(2028, 1, 1, tzinfo=TOKYO)
        )
    ]
    assert len(starts) == 11
    assert february not in starts
    assert march not in starts
    assert new in starts
    expected = [o.starts_at for o in services.occurrence_list(conference, after=START)]
    assert sorted(starts) == sorted(expected)


def test_an_until_is_given_in_utc(net, schedule):
    conference = schedule(
        starts_at=START, ends_at=START + dt.timedelta(hours=1),
        recurrence_rule="FREQ=MONTHLY;BYDAY=3TH;UNTIL=20270630",
    )  # fmt: skip
    main = parse(download(net.nurse, conference)).walk("VEVENT")[0]
    until = rule(main)["UNTIL"][0]
    assert until.tzinfo is not None
    assert until.utcoffset() == dt.timedelta(0)


def test_the_download_is_404_to_someone_not_invited(net, series):
    client = Client()
    client.force_login(net.outsider)
    assert client.get(f"/conferences/{series[0].pk}/conference.ics").status_code == 404


def test_the_feed_opens_with_its_secret_and_stops_when_revoked(net, series):
    conference = series[0]
    client = Client()
    client.force_login(net.nurse)
    page = client.post("/conferences/feed/")
    assert page.status_code == 200
    url = page.context["feed_url"]
    path = url.split("testserver", 1)[1]
    assert FeedToken.objects.get(user=net.nurse).digest not in url  # only the digest is kept
    anonymous = Client()
    feed = anonymous.get(path)
    assert feed.status_code == 200
    cal = parse(feed.content)
    assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {f"conference-{conference.pk}@kizuna"}
    # A new secret retires the old one; revoking retires every one.
    client.post("/conferences/feed/")
    assert anonymous.get(path).status_code == 404
    client.post("/conferences/feed/revoke/")
    assert not FeedToken.objects.filter(user=net.nurse).exists()


def test_an_unknown_feed_secret_is_404(db):
    assert Client().get("/conferences/feed/" + "x" * 43 + ".ics").status_code == 404
