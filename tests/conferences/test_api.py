"""The conferences API: the reader's list (paginated, a fixed number of queries), one
conference as the reader may see it, and an RSVP through the same service as the page."""

from __future__ import annotations

import datetime as dt

import pytest

from conferences.models import Answer
from notifications.models import Notice
from tests.conferences.conftest import soon
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("extra", [0, 6])
def test_the_list_costs_the_same_queries_for_one_or_many_conferences(
    net, schedule, api_as, django_assert_num_queries, extra
):
    for n in range(extra + 1):
        schedule(
            starts_at=soon(60 * 24 * (n + 2)),
            recurrence_rule="FREQ=WEEKLY;COUNT=4" if n % 2 else "",
        )
    client = api_as(net.nurse)
    # count, page (organizer joined, agenda counted), the changes of the page's conferences
    with django_assert_num_queries(3):
        response = client.get("/api/v1/conferences/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == extra + 1
    first = body["results"][0]
    assert first["kind_label"] == "事例検討会"
    assert first["organizer"] == {"id": net.primary.pk, "name": str(net.primary)}
    assert first["next_occurrence"]["starts_at"]
    assert first["agenda_count"] == 1


def test_the_list_is_paginated_and_shows_only_ones_own_conferences(net, schedule, api_as):
    for n in range(3):
        schedule(starts_at=soon(60 * 24 * (n + 2)))
    page = api_as(net.nurse).get("/api/v1/conferences/?limit=2").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert page["next"]
    assert api_as(net.secondary).get("/api/v1/conferences/").json()["count"] == 0
    assert api_as(net.nurse).get("/api/v1/conferences/?limit=500").status_code == 400


def test_the_detail_names_an_agenda_patient_only_to_those_who_see_them(net, schedule, api_as):
    hidden = PatientFactory(name="森 ミツ", managing_organization=net.lead_clinic)

    ConsentFactory(patient=hidden, recorded_by=net.primary)
    CareTeamMemberFactory(patient=hidden, user=net.primary, organization=net.lead_clinic)
    conference = schedule(
        agenda=[
            {"patient": net.patient.pk, "presenter": net.nurse.pk, "question": "疼痛"},
            {"patient": hidden.pk, "presenter": net.primary.pk, "question": "看取り"},
        ]
    )
    body = api_as(net.nurse).get(f"/api/v1/conferences/{conference.pk}/").json()
    assert [(a["patient_id"], a["patient"]) for a in body["agenda"]] == [
        (net.patient.pk, net.patient.name),
        (None, "みどり在宅クリニックの患者"),
    ]
    assert {i["id"] for i in body["invitees"]} == {net.nurse.pk, net.pharmacist.pk}
    assert body["is_organizer"] is False


def test_the_detail_is_not_found_for_those_not_invited(net, schedule, api_as):
    conference = schedule()
    response = api_as(net.stranger).get(f"/api/v1/conferences/{conference.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_an_invitee_answers_through_the_api_and_the_organizer_hears(net, schedule, api_as):
    conference = schedule()
    client = api_as(net.nurse)
    response = client.post(
        f"/api/v1/conferences/{conference.pk}/rsvp/",
        {"occurrence": conference.starts_at.isoformat(), "rsvp": "attending"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["rsvp"] == "attending"
    assert Answer.objects.get(user=net.nurse).rsvp == "attending"
    assert Notice.objects.filter(kind="conference.rsvp", recipient=net.primary).exists()
    detail = client.get(f"/api/v1/conferences/{conference.pk}/").json()
    assert detail["my_rsvp"] == "attending"


def test_a_bad_rsvp_is_a_400_with_field_errors(net, schedule, api_as):
    conference = schedule()
    client = api_as(net.nurse)
    url = f"/api/v1/conferences/{conference.pk}/rsvp/"
    response = client.post(url, {"occurrence": "x", "rsvp": "maybe"}, format="json")
    assert response.status_code == 400
    assert "rsvp" in response.json()["error"]["fields"]
    not_one = (conference.starts_at + dt.timedelta(days=1)).isoformat()
    response = client.post(url, {"occurrence": not_one, "rsvp": "absent"}, format="json")
    assert response.status_code == 400
    assert "occurrence" in response.json()["error"]["fields"]
    stranger = api_as(net.stranger).post(
        url, {"occurrence": conference.starts_at.isoformat(), "rsvp": "absent"}, format="json"
    )
    assert stranger.status_code == 404
