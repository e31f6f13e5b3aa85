"""The discharge conference of a decided referral: the schedule form pre-filled from
?referral=<id> (the pair, the referring hospital's liaison, the new patient on the agenda),
the referral's access asked of patients."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conferences.models import Conference
from patients import referrals
from tests.patients.referral_fixtures import make_referral, rnet

__all__ = ["rnet"]

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _decided(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    referrals.referral_answer(net.primary, referral.pk, answer="primary")
    referrals.referral_answer(net.secondary, referral.pk, answer="secondary")
    referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    referral.refresh_from_db()
    return referral


def _schedule(user, referral_id):
    return as_user(user).get(reverse("conference-schedule"), {"referral": referral_id})


def test_the_decided_referral_page_links_to_the_discharge_conference(rnet):
    referral = _decided(rnet)
    page = as_user(rnet.net.primary).get(reverse("referral-detail", args=[referral.pk]))
    assert page.status_code == 200
    assert f"/conferences/new/?referral={referral.pk}" in page.content.decode()
    assert "退院時カンファレンスを設定" in page.content.decode()


def test_the_schedule_form_is_prefilled_with_the_pair_the_liaison_and_the_patient(rnet):
    referral = _decided(rnet)
    response = _schedule(rnet.net.primary, referral.pk)
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["kind"] == "discharge"
    assert set(initial["invitees"]) == {str(rnet.net.secondary.pk), str(rnet.discharge_nurse.pk)}
    assert initial["agenda_patient_1"] == str(referral.patient_id)
    assert initial["date"] >= referral.created_at.date()


def test_the_prefilled_form_schedules_the_discharge_conference(rnet):
    referral = _decided(rnet)
    initial = _schedule(rnet.net.primary, referral.pk).context["form"].initial
    data = {
        "kind": initial["kind"],
        "title": initial["title"],
        "date": initial["date"].isoformat(),
        "start_time": "14:00",
        "end_time": "15:00",
        "repeat": "none",
        "is_online": "on",
        "invitees": initial["invitees"],
        "agenda_patient_1": initial["agenda_patient_1"],
        "agenda_question_1": initial["agenda_question_1"],
    }
    response = as_user(rnet.net.primary).post(reverse("conference-schedule"), data)
    assert response.status_code == 302
    conference = Conference.objects.get(kind="discharge")
    assert conference.agenda.get().patient_id == referral.patient_id


def test_someone_who_does_not_see_the_referral_gets_404(rnet):
    referral = _decided(rnet)
    assert _schedule(rnet.net.stranger, referral.pk).status_code == 404
    assert _schedule(rnet.net.primary, "not-a-number").status_code == 404


def test_a_referral_not_yet_decided_is_refused_with_the_reason(rnet):
    referral = make_referral(rnet)
    response = _schedule(rnet.discharge_nurse, referral.pk)
    assert response.status_code == 400
    assert "まだ決定していません" in response.content.decode()


def test_someone_who_does_not_see_the_patient_gets_the_form_without_them(rnet):
    # The coordinator decides but is on no care team: the patient is not theirs to name.
    referral = _decided(rnet)
    response = _schedule(rnet.net.coordinator, referral.pk)
    assert response.status_code == 200
    assert response.context["form"].initial["agenda_patient_1"] == ""
