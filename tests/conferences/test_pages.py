"""The conference pages: calendar, schedule form, conference page, room page, minutes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from conferences.models import Conference
from messaging.models import Message
from tests.conferences.conftest import soon

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(net, **overrides):
    day = timezone.localdate() + dt.timedelta(days=14)
    data = {
        "kind": "case_review",
        "title": "事例検討会",
        "date": day.isoformat(),
        "start_time": "19:00",
        "end_time": "20:30",
        "repeat": "monthly_weekday",
        "count": "12",
        "is_online": "on",
        "invitees": [str(net.nurse.pk), str(net.pharmacist.pk)],
        "agenda_patient_1": str(net.patient.pk),
        "agenda_presenter_1": str(net.nurse.pk),
        "agenda_question_1": "退院後の疼痛管理",
    }
    data.update(overrides)
    return data


def test_the_schedule_form_makes_a_monthly_series_and_shows_it_in_words(net):
    client = as_user(net.primary)
    assert client.get("/conferences/new/").status_code == 200
    response = client.post("/conferences/new/", form_data(net))
    assert response.status_code == 302
    conference = Conference.objects.get()
    assert conference.recurrence.startswith("FREQ=MONTHLY;BYDAY=")
    page = as_user(net.nurse).get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "毎月第" in text
    assert "19:00(12回)" in text
    assert net.patient.name in text


def test_the_schedule_form_refuses_end_before_start_on_the_field(net):
    response = as_user(net.primary).post(
        "/conferences/new/", form_data(net, start_time="19:00", end_time="18:00")
    )
    assert response.status_code == 400
    assert "終了は開始より後にしてください。" in response.content.decode()
    assert not Conference.objects.exists()


def test_the_schedule_form_refuses_a_series_without_an_end(net):
    response = as_user(net.primary).post("/conferences/new/", form_data(net, count=""))
    assert response.status_code == 400
    assert "繰り返しの終わり" in response.content.decode()


def test_the_schedule_form_offers_only_the_network_and_visible_patients(net, schedule):
    page = as_user(net.primary).get("/conferences/new/").content.decode()
    assert net.nurse.display_name in page
    assert net.stranger.display_name not in page  # another network
    assert net.patient.name in page
    page = as_user(net.outsider).get("/conferences/new/").content.decode()
    assert net.patient.name not in page  # not on the team


def test_the_calendar_shows_the_month_and_the_list(net, schedule):
    conference = schedule(starts_at=soon(60 * 24))
    page = as_user(net.nurse).get("/conferences/").content.decode()
    assert page.count(conference.title) == 2  # in the month grid and the 60-day list
    assert conference.title not in as_user(net.outsider).get("/conferences/").content.decode()
    assert as_user(net.nurse).get("/conferences/?month=2099-99").status_code == 200


def test_the_conference_page_is_404_to_someone_not_invited(net, schedule):
    conference = schedule()
    assert as_user(net.outsider).get(f"/conferences/{conference.pk}/").status_code == 404
    page = as_user(net.nurse).get(f"/conferences/{conference.pk}/")
    assert page.status_code == 200
    assert "ひまわり訪問看護ステーション" in page.content.decode()  # the invitee's organization


def test_an_invitee_who_cannot_see_the_patient_reads_a_patient_of_the_organization(net, schedule):
    conference = schedule(invitees=[net.nurse.pk, net.outsider.pk])
    page = as_user(net.outsider).get(f"/conferences/{conference.pk}/").content.decode()
    assert net.patient.name not in page
    assert "みどり在宅クリニックの患者" in page


def test_rsvp_from_the_page(net, schedule):
    conference = schedule()
    client = as_user(net.nurse)
    response = client.post(
        f"/conferences/{conference.pk}/rsvp/",
        {"occurrence": conference.starts_at.isoformat(), "rsvp": "attending"},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'aria-pressed="true">出席' in page
    bad = client.post(
        f"/conferences/{conference.pk}/rsvp/",
        {"occurrence": conference.starts_at.isoformat(), "rsvp": "maybe"},
    )
    assert bad.status_code == 400


def test_the_room_page_only_for_invitees_in_the_window(net, schedule):
    now = schedule(starts_at=soon(-5))
    later = schedule(starts_at=soon(240))
    occurrence = {"occurrence": now.starts_at.isoformat()}
    assert as_user(net.nurse).get(f"/conferences/{now.pk}/room/", occurrence).status_code == 200
    assert as_user(net.outsider).get(f"/conferences/{now.pk}/room/", occurrence).status_code == 404
    closed = as_user(net.nurse).get(
        f"/conferences/{later.pk}/room/", {"occurrence": later.starts_at.isoformat()}
    )
    assert closed.status_code == 403
    assert "30分前" in closed.content.decode()


def test_minutes_saved_on_the_page_land_in_the_contact_book(net, schedule):
    conference = schedule(starts_at=soon(-5))
    item = conference.agenda.get()
    response = as_user(net.primary).post(
        f"/conferences/{conference.pk}/minutes/{item.pk}/",
        {
            "occurrence": conference.starts_at.isoformat(),
            f"m{item.pk}-summary": "在宅での看取りを希望。",
            f"m{item.pk}-step_text_1": "訪問看護の回数を増やす",
            f"m{item.pk}-step_owner_1": str(net.nurse.pk),
            f"m{item.pk}-step_due_1": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 302
    message = Message.objects.get(thread__patient=net.patient)
    assert "在宅での看取りを希望。" in message.body
    assert "訪問看護の回数を増やす" in message.body


def test_minutes_with_a_step_missing_its_due_date_come_back_on_the_form(net, schedule):
    conference = schedule(starts_at=soon(-5))
    item = conference.agenda.get()
    response = as_user(net.primary).post(
        f"/conferences/{conference.pk}/minutes/{item.pk}/",
        {
            "occurrence": conference.starts_at.isoformat(),
            f"m{item.pk}-summary": "x",
            f"m{item.pk}-step_text_1": "y",
            f"m{item.pk}-step_owner_1": str(net.nurse.pk),
        },
    )
    assert response.status_code == 400
    assert "期限を日付で入力してください。" in response.content.decode()
    assert not Message.objects.exists()


def test_the_calendar_costs_the_same_queries_for_one_conference_or_five(net, schedule):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    schedule(starts_at=soon(60 * 24))
    client = as_user(net.nurse)
    client.get("/conferences/")  # the session and the first request's one-offs
    with CaptureQueriesContext(connection) as one:
        assert client.get("/conferences/").status_code == 200
    for n in range(4):
        schedule(starts_at=soon(60 * 24 * (n + 2)), recurrence_rule="FREQ=WEEKLY;COUNT=4")
    with CaptureQueriesContext(connection) as five:
        assert client.get("/conferences/").status_code == 200
    assert len(five) == len(one)


def test_the_organizer_sees_the_attendance_log(net, schedule):
    from conferences.models import Attendance

    conference = schedule(starts_at=soon(-5))
    Attendance.objects.create(
        conference=conference, occurrence=conference.starts_at, user=net.nurse,
        peer="0123456789abcdef", channel="x", joined_at=soon(-3), left_at=soon(-1),
    )  # fmt: skip
    page = as_user(net.primary).get(f"/conferences/{conference.pk}/").content.decode()
    assert 'id="attendance"' in page
    assert net.nurse.display_name in page
    invitee = as_user(net.nurse).get(f"/conferences/{conference.pk}/").content.decode()
    assert 'id="attendance"' not in invitee


def test_every_conference_route_is_404_to_someone_not_invited(net, schedule):
    from django.urls import reverse

    from conferences.urls import urlpatterns

    conference = schedule(starts_at=soon(-5))
    item = conference.agenda.get()
    client = as_user(net.outsider)
    routes = [p for p in urlpatterns if "conference_id" in str(p.pattern)]
    assert len(routes) >= 7
    for route in routes:
        kwargs = {"conference_id": conference.pk}
        if "item_id" in str(route.pattern):
            kwargs["item_id"] = item.pk
        url = reverse(route.name, kwargs=kwargs)
        answers = {
            client.get(url, {"occurrence": conference.starts_at.isoformat()}).status_code,
            client.post(url, {"occurrence": conference.starts_at.isoformat()}).status_code,
        }
        assert 404 in answers, url
        assert answers <= {404, 405}, (url, answers)


def test_the_pages_read_in_english(net, schedule):
    from django.utils import translation

    conference = schedule(starts_at=soon(-5))
    client = as_user(net.primary)
    client.cookies["django_language"] = "en"
    try:
        page = client.get(f"/conferences/{conference.pk}/").content.decode()
        calendar = client.get("/conferences/").content.decode()
    finally:
        # The request left English active in this thread: later tests read Japanese.
        translation.activate("ja")
    assert "Enter the meeting room" in page
    assert "Participants and answers" in page
    assert "Case review" in page
    assert "Schedule a conference" in calendar
