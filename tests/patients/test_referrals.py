"""Referrals: matching, answers, the decision, the de-identification check and access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from config.errors import DomainError, Forbidden, NotFound
from messaging.models import Message, Thread, ThreadKind
from notifications.models import Notice
from patients import deidentify, referrals
from patients.models import (
    CareRole,
    CareTeamMember,
    Consent,
    Disclosure,
    Patient,
    Referral,
    ReferralStatus,
)
from patients.referral_selectors import match
from tests.patients.referral_fixtures import make_referral, referral_data, rnet

__all__ = ["rnet"]  # the fixture, imported for pytest


def names(candidates):
    return [c.physician.username for c in candidates]


# --- matching -----------------------------------------------------------------------------


def test_matching_ranks_by_area_then_needs_then_load(rnet):
    referral = make_referral(rnet)
    # primary covers both needs; secondary one; third none. far is in another area, full is
    # at its maximum load, stranger is in another network.
    assert names(match(referral)) == ["primary", "secondary", "third"]


def test_matching_ranks_the_lighter_load_first_among_equals(rnet):
    net = rnet.net
    referral = make_referral(rnet, needs=["palliative_care"])
    # Both cover the need; the primary already answers for net.patient (and so does the
    # secondary), so give the primary one more patient.
    CareTeamMember.objects.create(
        patient=Patient.objects.create(
            name="x",
            name_kana="x",
            date_of_birth=dt.date(1950, 1, 1),
            sex="male",
            managing_organization=net.lead_clinic,
        ),
        user=net.primary,
        role=CareRole.PRIMARY_PHYSICIAN,
        start_date=timezone.localdate(),
    )
    assert names(match(referral))[:2] == ["secondary", "primary"]


def test_matching_leaves_out_those_at_their_maximum_load_and_those_not_taking_patients(rnet):
    rnet.third.home_care.accepting = False
    rnet.third.home_care.save()
    referral = make_referral(rnet)
    found = names(match(referral, widened=True))
    assert "full" not in found
    assert "third" not in found


def test_widened_matching_reaches_other_areas_after_those_of_the_area(rnet):
    referral = make_referral(rnet)
    assert names(match(referral, widened=True)) == ["primary", "secondary", "third", "far"]


def test_a_physician_registered_by_town_serves_a_referral_in_that_town(rnet):
    rnet.far.home_care.areas = ["月島"]
    rnet.far.home_care.save()
    assert "far" in names(match(make_referral(rnet, town="月島")))
    assert "far" not in names(match(make_referral(rnet, town="佃")))


def test_matching_never_reaches_another_networks_physicians(rnet):
    referral = make_referral(rnet)
    assert "stranger" not in names(match(referral, widened=True))


def test_a_new_referral_invites_the_matched_physicians_and_tells_them(rnet):
    referral = make_referral(rnet)
    invited = set(referral.invitations.values_list("physician__username", flat=True))
    assert invited == {"primary", "secondary", "third"}
    notice = Notice.objects.get(recipient=rnet.net.primary, kind="referral.invited")
    assert notice.url == reverse("referral-detail", args=[referral.pk])
    assert "青木" not in notice.title + notice.body
    assert Notice.objects.filter(recipient=rnet.net.coordinator, kind="referral.new").exists()


# --- bad input ----------------------------------------------------------------------------


def test_a_referral_without_the_minimum_summary_is_refused_naming_the_fields(rnet):
    with pytest.raises(DomainError) as exc:
        make_referral(rnet, area="", conditions=" ", age_band="")
    assert set(exc.value.fields) == {"area", "conditions", "age_band"}
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("summary", "青木さんは独居"),  # the identifying record's family name
        ("conditions", "あおき みつ様、膵癌"),  # its kana
        ("summary", "山本さんの紹介"),  # any name with an honorific
        ("town", "月島3丁目"),
        ("town", "月島1-2-3"),
        ("summary", "連絡は090-1234-5678へ"),
        ("summary", "連絡は０３−１２３４−５６７８へ"),  # full-width
        ("summary", "家族 mitsu.aoki@example.jp"),
        ("summary", "被保険者番号 12345678"),
    ],
)
def test_identifying_data_in_the_summary_is_refused_naming_the_field(rnet, field, text):
    with pytest.raises(DomainError) as exc:
        make_referral(rnet, **{field: text})
    assert list(exc.value.fields) == [field]
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "血圧120-80、SpO2 90-95%",
        "娘さんと二人暮らし、ご主人様は他界。ヘルパーさん週3回",
        "在宅酸素2L、胃瘻、3号室から退院",
    ],
)
def test_clinical_text_passes_the_check(text):
    assert deidentify.findings(text, names=["青木 ミツ"]) == []


def test_the_referral_page_refuses_identifying_data_with_400_and_the_field(rnet, client):
    client.force_login(rnet.discharge_nurse)
    data = referral_data(rnet, summary="電話 03-9999-0000")
    response = client.post(reverse("referral-new"), data)
    assert response.status_code == 400
    assert "電話番号" in response.context["form"].errors["summary"][0]
    assert not Referral.objects.exists()


def test_the_referral_page_creates_and_shows_the_referral(rnet, client):
    client.force_login(rnet.discharge_nurse)
    response = client.post(reverse("referral-new"), referral_data(rnet))
    referral = Referral.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("referral-detail", args=[referral.pk])
    page = client.get(response["Location"])
    assert "青木 ミツ" in page.content.decode()  # the referring organization sees the record


def test_a_physician_outside_the_network_answering_gets_404(rnet, client):
    referral = make_referral(rnet)
    with pytest.raises(NotFound):
        referrals.referral_answer(rnet.net.stranger, referral.pk, answer="primary")
    client.force_login(rnet.net.stranger)
    url = reverse("referral-answer", args=[referral.pk])
    assert client.post(url, {"answer": "primary"}).status_code == 404


def test_a_physician_not_invited_gets_404_on_the_referral(rnet, client):
    referral = make_referral(rnet)
    client.force_login(rnet.far)
    assert client.get(reverse("referral-detail", args=[referral.pk])).status_code == 404


def test_declining_needs_a_reason(rnet):
    referral = make_referral(rnet)
    with pytest.raises(DomainError) as exc:
        referrals.referral_answer(rnet.third, referral.pk, answer="decline", reason=" ")
    assert list(exc.value.fields) == ["reason"]


def test_the_coordinator_may_not_answer_and_an_invited_physician_may_not_decide(rnet):
    referral = make_referral(rnet)
    with pytest.raises(Forbidden):  # sees the referral, answers nothing
        referrals.referral_answer(rnet.net.coordinator, referral.pk, answer="primary")
    with pytest.raises(Forbidden):
        referrals.referral_confirm(rnet.net.primary, referral.pk, primary_id=rnet.net.primary.pk)


def test_a_secondary_who_is_the_primary_is_refused(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    referrals.referral_answer(net.primary, referral.pk, answer="either")
    with pytest.raises(DomainError) as exc:
        referrals.referral_confirm(
            net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.primary.pk
        )
    assert list(exc.value.fields) == ["secondary_id"]
    assert Referral.objects.get().status == ReferralStatus.MATCHING


def test_a_physician_who_did_not_raise_a_hand_for_the_place_is_refused(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    referrals.referral_answer(net.primary, referral.pk, answer="secondary")
    with pytest.raises(DomainError) as exc:
        referrals.referral_confirm(net.coordinator, referral.pk, primary_id=net.primary.pk)
    assert list(exc.value.fields) == ["primary_id"]


# --- access -------------------------------------------------------------------------------


def test_an_invited_physician_sees_the_summary_and_never_the_identifying_record(rnet, client):
    referral = make_referral(rnet)
    client.force_login(rnet.third)
    page = client.get(reverse("referral-detail", args=[referral.pk])).content.decode()
    assert "膵癌末期" in page
    for identifying in ("青木", "あおき", "03-1111-2222", "4-5", "1941"):
        assert identifying not in page


# --- the decision -------------------------------------------------------------------------


def _raise_hands(rnet, referral):
    net = rnet.net
    referrals.referral_answer(net.primary, referral.pk, answer="primary")
    referrals.referral_answer(net.secondary, referral.pk, answer="secondary")
    referrals.referral_answer(rnet.third, referral.pk, answer="decline", reason="担当地域外")


def test_confirmation_builds_the_patient_team_consent_and_contact_book_in_one_go(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    patient = referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    assert (patient.name, patient.managing_organization) == ("青木 ミツ", net.lead_clinic)
    team = {(m.user.username, m.role, m.end_date) for m in patient.care_team.all()}
    assert team == {
        ("primary", CareRole.PRIMARY_PHYSICIAN, None),
        ("secondary", CareRole.SECONDARY_PHYSICIAN, None),
        ("discharge", CareRole.HOSPITAL_LIAISON, referral.wished_start),
    }
    consent = Consent.objects.get(patient=patient)
    assert consent.recorded_by == rnet.discharge_nurse
    assert set(consent.organizations.all()) == {net.lead_clinic, net.clinic, rnet.hospital}
    assert set(Disclosure.objects.filter(patient=patient).values_list("organization", flat=True))
    book = Thread.objects.get(patient=patient, kind=ThreadKind.CONTACT_BOOK)
    first = Message.objects.filter(thread=book).order_by("seq").first()
    assert first.seq == 1
    assert "膵癌末期" in first.body
    assert first.author == rnet.discharge_nurse
    referral.refresh_from_db()
    assert (referral.status, referral.patient, referral.primary) == (
        ReferralStatus.DECIDED,
        patient,
        net.primary,
    )


def test_every_invited_physician_learns_the_outcome(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    patient = referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    outcome = {n.recipient.username: n.url for n in Notice.objects.filter(kind="referral.decided")}
    patient_url = reverse("patient-detail", args=[patient.pk])
    assert outcome["primary"] == patient_url
    assert outcome["secondary"] == patient_url
    assert outcome["third"] == reverse("referral-detail", args=[referral.pk])
    assert "discharge" in outcome


def test_the_declined_physician_gets_404_on_the_new_patient_and_the_pair_reads_it(rnet, client):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    patient = referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    url = reverse("patient-detail", args=[patient.pk])
    client.force_login(rnet.third)
    assert client.get(url).status_code == 404
    client.force_login(net.secondary)
    page = client.get(url)
    assert page.status_code == 200
    assert "膵癌末期" in page.content.decode()


def test_a_second_confirmation_gets_409_and_changes_nothing(rnet, client):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    referrals.referral_answer(rnet.third, referral.pk, answer="either")
    referrals.referral_confirm(net.coordinator, referral.pk, primary_id=net.primary.pk)
    client.force_login(net.coordinator)
    response = client.post(
        reverse("referral-confirm", args=[referral.pk]), {"primary_id": rnet.third.pk}
    )
    assert response.status_code == 409
    assert Patient.objects.filter(name="青木 ミツ").count() == 1
    assert Referral.objects.get().primary == net.primary


def test_answers_after_the_decision_are_refused(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    referrals.referral_confirm(net.coordinator, referral.pk, primary_id=net.primary.pk)
    with pytest.raises(referrals.ReferralConflict):
        referrals.referral_answer(rnet.third, referral.pk, answer="primary")


# --- widening and narrowing --------------------------------------------------------------


def test_the_coordinator_widens_and_narrows_the_referral(rnet, client):
    referral = make_referral(rnet)
    invitation = referrals.referral_invite(
        rnet.net.coordinator, referral.pk, physician_id=rnet.far.pk
    )
    assert Notice.objects.filter(recipient=rnet.far, kind="referral.invited").exists()
    client.force_login(rnet.far)
    assert client.get(reverse("referral-detail", args=[referral.pk])).status_code == 200
    referrals.referral_uninvite(rnet.net.coordinator, referral.pk, invitation_id=invitation.pk)
    assert client.get(reverse("referral-detail", args=[referral.pk])).status_code == 404


def test_inviting_a_physician_outside_the_network_is_refused(rnet):
    referral = make_referral(rnet)
    with pytest.raises(DomainError) as exc:
        referrals.referral_invite(
            rnet.net.coordinator, referral.pk, physician_id=rnet.net.stranger.pk
        )
    assert list(exc.value.fields) == ["physician_id"]


# --- pages --------------------------------------------------------------------------------


def test_the_board_counts_referrals_by_column(rnet, client, django_assert_max_num_queries):
    make_referral(rnet)
    second = make_referral(rnet, area="中央区", town="佃")
    referrals.referral_answer(rnet.net.primary, second.pk, answer="primary")
    overdue = make_referral(rnet)
    Referral.objects.filter(pk=overdue.pk).update(deadline=timezone.now() - dt.timedelta(hours=1))
    client.force_login(rnet.net.coordinator)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("referral-board"))
    counts = {c["name"]: c["count"] for c in response.context["columns"]}
    assert counts == {"open": 1, "matching": 1, "overdue": 1, "decided": 0}


def test_the_board_is_404_for_someone_who_coordinates_nothing(rnet, client):
    client.force_login(rnet.net.primary)
    assert client.get(reverse("referral-board")).status_code == 404


def test_the_inbox_lists_the_physicians_invitations(rnet, client):
    referral = make_referral(rnet)
    client.force_login(rnet.third)
    page = client.get(reverse("referral-inbox"))
    assert page.status_code == 200
    assert f'id="inbox-{referral.pk}"' in page.content.decode()


def test_a_physician_saves_their_registration(rnet, client):
    client.force_login(rnet.third)
    response = client.post(
        reverse("home-care-registration"),
        {
            "areas": "中央区、港区",
            "capabilities": ["ventilator"],
            "max_load": "12",
            "accepting": "on",
        },
    )
    assert response.status_code == 302
    registration = rnet.third.home_care
    registration.refresh_from_db()
    assert registration.areas == ["中央区", "港区"]
    assert registration.max_load == 12
    assert [c.code for c in registration.capabilities.all()] == ["ventilator"]


def test_the_registration_refuses_a_zero_load(rnet, client):
    client.force_login(rnet.third)
    response = client.post(reverse("home-care-registration"), {"areas": "中央区", "max_load": "0"})
    assert response.status_code == 400


def test_only_physicians_register(rnet, client):
    client.force_login(rnet.net.nurse)
    assert client.get(reverse("home-care-registration")).status_code == 404


# --- the network's rule: the referring hospital decides -----------------------------------


def test_the_referring_hospital_decides_only_where_the_networks_rules_say_so(rnet):
    net = rnet.net
    referral = make_referral(rnet)
    _raise_hands(rnet, referral)
    with pytest.raises(Forbidden):
        referrals.referral_confirm(rnet.discharge_nurse, referral.pk, primary_id=net.primary.pk)
    net.lead_clinic.networks.update(referrer_decides=True)
    patient = referrals.referral_confirm(
        rnet.discharge_nurse, referral.pk, primary_id=net.primary.pk, secondary_id=net.secondary.pk
    )
    assert Referral.objects.get().decided_by == rnet.discharge_nurse
    assert patient.care_team.filter(user=net.primary, role=CareRole.PRIMARY_PHYSICIAN).exists()


# --- a referral linked to a registered patient ---------------------------------------------


def _hospital_on_the_team(rnet):
    net = rnet.net
    Consent.objects.get(patient=net.patient).organizations.add(rnet.hospital)
    CareTeamMember.objects.create(
        patient=net.patient,
        user=rnet.discharge_nurse,
        role=CareRole.HOSPITAL_LIAISON,
        organization=rnet.hospital,
        start_date=timezone.localdate() - dt.timedelta(days=3),
    )


def test_a_linked_referral_gives_the_registered_patient_its_new_pair(rnet, client):
    net = rnet.net
    _hospital_on_the_team(rnet)
    referral = make_referral(
        rnet, patient_id=net.patient.pk, name="", name_kana="", date_of_birth="", summary=""
    )
    assert referral.identity.name == net.patient.name
    referrals.referral_answer(rnet.third, referral.pk, answer="primary")
    referrals.referral_answer(net.secondary, referral.pk, answer="secondary")
    patient = referrals.referral_confirm(
        net.coordinator, referral.pk, primary_id=rnet.third.pk, secondary_id=net.secondary.pk
    )
    assert patient == net.patient
    assert Patient.objects.count() == 1 + 1  # net.patient and the fixture's full physician's
    open_places = {
        (m.user.username, m.role)
        for m in patient.care_team.filter(end_date__isnull=True, role__in=["primary_physician",
                                                                           "secondary_physician"])
    }  # fmt: skip
    assert open_places == {("third", "primary_physician"), ("secondary", "secondary_physician")}
    old = patient.care_team.get(user=net.primary, role=CareRole.PRIMARY_PHYSICIAN)
    assert old.end_date == timezone.localdate() - dt.timedelta(days=1)
    book = Thread.objects.get(patient=patient, kind=ThreadKind.CONTACT_BOOK)
    assert "膵癌末期" in Message.objects.filter(thread=book).order_by("-seq").first().body
    client.force_login(net.primary)
    assert client.get(reverse("patient-detail", args=[patient.pk])).status_code == 404
    client.force_login(rnet.third)
    assert client.get(reverse("patient-detail", args=[patient.pk])).status_code == 200


def test_linking_a_patient_one_does_not_read_is_refused_as_not_found(rnet):
    with pytest.raises(DomainError) as exc:
        make_referral(rnet, patient_id=rnet.net.patient.pk)
    assert list(exc.value.fields) == ["patient_id"]


def test_the_inbox_costs_the_same_queries_for_one_referral_or_three(rnet, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(rnet.third)
    make_referral(rnet)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("referral-inbox"))
    make_referral(rnet)
    make_referral(rnet)
    with CaptureQueriesContext(connection) as three:
        client.get(reverse("referral-inbox"))
    assert len(three) == len(one)


def test_the_referral_page_costs_a_fixed_number_of_queries(rnet, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    referral = make_referral(rnet)
    referrals.referral_invite(rnet.net.coordinator, referral.pk, physician_id=rnet.far.pk)
    client.force_login(rnet.net.coordinator)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("referral-detail", args=[referral.pk])).status_code == 200
    assert len(queries) <= 12
