"""The referrals API (/api/v1/referrals/): the person's list (paginated, constant queries),
one referral (the summary only unless on the accepted team), the answer, and the refusals."""

from __future__ import annotations

import pytest

from patients import referrals
from patients.models import ReferralInvitation
from tests.patients.referral_fixtures import make_referral, rnet

__all__ = ["rnet"]

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {
    "id",
    "status",
    "reach",
    "age_band",
    "sex",
    "area",
    "town",
    "conditions",
    "needs",
    "summary",
    "wished_start",
    "deadline",
    "created_at",
    "referring_organization",
}


def _decided(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    referrals.referral_answer(net.primary, referral.pk, answer="primary")
    referrals.referral_answer(net.secondary, referral.pk, answer="secondary")
    referrals.referral_answer(rnet.third, referral.pk, answer="decline", reason="満床")
    referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    referral.refresh_from_db()
    return referral


@pytest.mark.parametrize("extra", [0, 5])
def test_the_list_costs_the_same_queries_for_one_or_many_referrals(
    rnet, api_as, django_assert_num_queries, extra
):
    for _ in range(1 + extra):
        make_referral(rnet)
    client = api_as(rnet.net.primary)
    # count, page with the referring organization
    with django_assert_num_queries(2):
        response = client.get("/api/v1/referrals/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 + extra
    assert set(body["results"][0]) == SUMMARY_KEYS


def test_the_list_shows_only_the_person_s_referrals(rnet, api_as):
    make_referral(rnet)
    assert api_as(rnet.net.stranger).get("/api/v1/referrals/").json()["count"] == 0
    assert api_as(rnet.discharge_nurse).get("/api/v1/referrals/").json()["count"] == 1


def test_the_list_needs_a_signed_in_person(api):
    assert api.get("/api/v1/referrals/").status_code in (401, 403)


def test_an_invited_physician_reads_the_summary_without_the_identity(rnet, api_as):
    referral = make_referral(rnet)
    body = api_as(rnet.net.primary).get(f"/api/v1/referrals/{referral.pk}/").json()
    assert body["referral"]["area"] == "中央区"
    assert body["patient_id"] is None
    assert "青木" not in str(body)


def test_the_accepted_team_reads_the_pair_and_the_patient(rnet, api_as):
    referral = _decided(rnet)
    body = api_as(rnet.net.secondary).get(f"/api/v1/referrals/{referral.pk}/").json()
    assert body["patient_id"] == referral.patient_id
    assert (body["primary_id"], body["secondary_id"]) == (
        rnet.net.primary.pk,
        rnet.net.secondary.pk,
    )


def test_a_physician_who_declined_reads_the_summary_only(rnet, api_as):
    referral = _decided(rnet)
    body = api_as(rnet.third).get(f"/api/v1/referrals/{referral.pk}/").json()
    assert body["referral"]["status"] == "decided"
    assert body["my_answer"] == {"answer": "decline", "reason": "満床"}
    assert (body["patient_id"], body["primary_id"]) == (None, None)


def test_someone_not_invited_gets_404(rnet, api_as):
    referral = make_referral(rnet)
    assert api_as(rnet.net.stranger).get(f"/api/v1/referrals/{referral.pk}/").status_code == 404
    assert (
        api_as(rnet.net.stranger)
        .post(f"/api/v1/referrals/{referral.pk}/answer/", {"answer": "primary"}, format="json")
        .status_code
        == 404
    )


def test_an_invited_physician_answers(rnet, api_as):
    referral = make_referral(rnet)
    response = api_as(rnet.net.primary).post(
        f"/api/v1/referrals/{referral.pk}/answer/", {"answer": "either"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["my_answer"]["answer"] == "either"
    assert response.json()["referral"]["status"] == "matching"
    assert ReferralInvitation.objects.get(referral=referral, physician=rnet.net.primary).answer == (
        "either"
    )


def test_a_decline_without_a_reason_is_400_on_the_field(rnet, api_as):
    referral = make_referral(rnet)
    response = api_as(rnet.net.primary).post(
        f"/api/v1/referrals/{referral.pk}/answer/", {"answer": "decline"}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]


def test_a_bad_answer_is_400_and_the_referrer_answering_is_403(rnet, api_as):
    referral = make_referral(rnet)
    url = f"/api/v1/referrals/{referral.pk}/answer/"
    assert api_as(rnet.net.primary).post(url, {"answer": "maybe"}, format="json").status_code == 400
    refused = api_as(rnet.discharge_nurse).post(url, {"answer": "primary"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"]


def test_answering_after_the_decision_is_409(rnet, api_as):
    referral = _decided(rnet)
    response = api_as(rnet.net.primary).post(
        f"/api/v1/referrals/{referral.pk}/answer/", {"answer": "either"}, format="json"
    )
    assert response.status_code == 409
