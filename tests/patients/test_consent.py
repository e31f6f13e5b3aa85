"""Consent names the organizations it covers; the team gate follows it; each first provision of
the patient's data to another organization is a disclosure record; the report lists them.

The `net` team: primary (lead clinic, the managing organization), secondary (clinic), nurse
(station), pharmacist (pharmacy); the consent covers the four (tests/factories.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from config.errors import DomainError, NotFound
from patients import services
from patients.access import access_patient, can_see_patient
from patients.models import CareRole, CareTeamMember, Consent, ConsentItem, Disclosure
from teams.models import OrganizationKind, Profession
from tests.factories import (
    ConsentFactory,
    MembershipFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def url(patient: Any, path: str = "") -> str:
    return f"/api/v1/patients/{patient.pk}/{path}"


def _consent(net: Any) -> Consent:
    return Consent.objects.get(patient=net.patient, withdrawn_at__isnull=True)


def _leave_out_the_station(net: Any) -> None:
    _consent(net).organizations.remove(net.station)


def _pharmacy_member(net: Any, username: str = "pharmacist2") -> Any:
    user = UserFactory(username=username, profession=Profession.PHARMACIST)
    MembershipFactory(user=user, organization=net.pharmacy)
    return user


def _new_pharmacy(net: Any) -> Any:
    """A pharmacy in the network that the consent does not cover, with one pharmacist."""
    pharmacy = OrganizationFactory(name="みなと薬局", kind=OrganizationKind.PHARMACY)
    net.lead_clinic.networks.get().organizations.add(pharmacy)
    user = UserFactory(username="minato", profession=Profession.PHARMACIST)
    MembershipFactory(user=user, organization=pharmacy)
    return pharmacy, user


# --- the gate ----------------------------------------------------------------------------


def test_a_member_whose_organization_is_not_covered_gets_403_with_the_reason(net, api_as):
    _leave_out_the_station(net)
    response = api_as(net.nurse).get(url(net.patient))
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert net.station.name in message
    assert "同意" in message
    assert not can_see_patient(net.nurse, net.patient)


def test_a_member_whose_organization_is_not_covered_is_not_listed(net, api_as):
    _leave_out_the_station(net)
    assert api_as(net.nurse).get("/api/v1/patients/").json()["results"] == []
    assert [p["id"] for p in api_as(net.pharmacist).get("/api/v1/patients/").json()["results"]] == [
        net.patient.pk
    ]


def test_a_member_left_out_by_the_consent_gets_403_for_writes_too(net, api_as):
    _leave_out_the_station(net)
    response = api_as(net.nurse).post(
        url(net.patient, "problems/"), {"name": "褥瘡"}, format="json"
    )
    assert response.status_code == 403
    assert net.station.name in response.json()["error"]["message"]


def test_people_off_the_team_still_get_404(net, api_as):
    _leave_out_the_station(net)
    assert api_as(net.outsider).get(url(net.patient)).status_code == 404


def test_the_patient_page_refuses_a_member_left_out_with_the_reason(net, client):
    _leave_out_the_station(net)
    client.force_login(net.nurse)
    response = client.get(reverse("patient-detail", args=[net.patient.pk]))
    assert response.status_code == 403
    body = response.content.decode()
    assert net.station.name in body
    assert net.patient.name not in body


def test_narrowing_the_consent_takes_effect_on_the_next_request(net, api_as):
    client = api_as(net.nurse)
    assert client.get(url(net.patient)).status_code == 200
    keep = [net.clinic.pk, net.pharmacy.pk]
    services.consent_change(net.primary, net.patient.pk, organization_ids=keep)
    assert client.get(url(net.patient)).status_code == 403


def test_withdrawal_takes_effect_on_the_next_request_with_the_reason(net, api_as):
    client = api_as(net.pharmacist)
    assert client.get(url(net.patient, "problems/")).status_code == 200
    services.consent_withdraw(net.primary, net.patient.pk)
    response = client.get(url(net.patient, "problems/"))
    assert response.status_code == 403
    assert "撤回" in response.json()["error"]["message"]
    assert api_as(net.primary).get(url(net.patient)).status_code == 200


def test_the_managing_organization_stays_covered_when_left_out_of_a_change(net):
    consent = services.consent_change(
        net.primary, net.patient.pk, organization_ids=[net.station.pk]
    )
    assert set(consent.organizations.all()) == {net.lead_clinic, net.station}


def test_the_primary_physician_reads_whatever_the_consent_covers(net):
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.station.pk])
    _consent(net).organizations.clear()
    assert access_patient(net.primary, net.patient.pk) == net.patient


# --- adding members ----------------------------------------------------------------------


def test_adding_a_member_of_an_uncovered_organization_is_a_400_on_the_organization(net, api_as):
    pharmacy, user = _new_pharmacy(net)
    response = api_as(net.primary).post(
        url(net.patient, "care-team/"),
        {"user_id": user.pk, "role": "pharmacist", "organization_id": pharmacy.pk},
        format="json",
    )
    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["organization_id"]
    assert pharmacy.name in message
    assert not CareTeamMember.objects.filter(user=user).exists()


def test_adding_a_member_for_an_organization_they_do_not_belong_to_is_a_400(net, api_as):
    response = api_as(net.primary).post(
        url(net.patient, "care-team/"),
        {"user_id": net.outsider.pk, "role": "visiting_nurse", "organization_id": net.station.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "organization_id" in response.json()["error"]["fields"]


def test_adding_a_member_while_consent_is_withdrawn_is_a_400(net):
    services.consent_withdraw(net.primary, net.patient.pk)
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary, net.patient.pk, user_id=_pharmacy_member(net).pk, role="pharmacist"
        )
    assert "non_field_errors" in exc.value.fields


# --- disclosure records ------------------------------------------------------------------


def test_the_first_member_of_a_covered_organization_writes_one_disclosure(net):
    pharmacy, user = _new_pharmacy(net)
    services.consent_change(
        net.primary,
        net.patient.pk,
        organization_ids=[net.clinic.pk, net.station.pk, net.pharmacy.pk, pharmacy.pk],
    )
    assert not Disclosure.objects.filter(organization=pharmacy).exists()  # nobody there yet
    services.care_team_add(net.primary, net.patient.pk, user_id=user.pk, role="pharmacist")
    disclosure = Disclosure.objects.get(organization=pharmacy)
    assert disclosure.patient == net.patient
    assert disclosure.consent == _consent(net)
    assert disclosure.by == net.primary
    assert disclosure.items == [ConsentItem.RECORD, ConsentItem.CONTACT_BOOK]
    audit = AuditEvent.objects.get(action=AuditAction.DISCLOSURE)
    assert (audit.patient_id, audit.object_id) == (net.patient.pk, str(disclosure.pk))


def test_a_second_member_of_the_same_organization_writes_no_second_disclosure(net):
    services.care_team_add(
        net.primary, net.patient.pk, user_id=_pharmacy_member(net).pk, role="pharmacist"
    )
    services.care_team_add(
        net.primary, net.patient.pk, user_id=_pharmacy_member(net, "p3").pk, role="pharmacist"
    )
    assert Disclosure.objects.filter(organization=net.pharmacy).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.DISCLOSURE).count() == 1


def test_members_of_the_managing_organization_write_no_disclosure(net):
    services.care_team_add(
        net.primary, net.patient.pk, user_id=net.coordinator.pk, role=CareRole.CARE_MANAGER
    )
    assert not Disclosure.objects.exists()


def test_extending_consent_to_an_organization_on_the_team_discloses_to_it(net):
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.clinic.pk])
    assert not can_see_patient(net.nurse, net.patient)
    everyone = [net.clinic.pk, net.station.pk, net.pharmacy.pk]
    services.consent_change(net.primary, net.patient.pk, organization_ids=everyone)
    assert can_see_patient(net.nurse, net.patient)
    disclosed = {net.station.pk, net.pharmacy.pk}
    assert set(Disclosure.objects.values_list("organization", flat=True)) == disclosed
    # Taken off and put back under the same consent: the first provision is already recorded.
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.clinic.pk])
    services.consent_change(net.primary, net.patient.pk, organization_ids=everyone)
    assert Disclosure.objects.count() == 2


def test_a_new_consent_after_a_withdrawal_discloses_again_under_it(net):
    services.consent_withdraw(net.primary, net.patient.pk)
    consent = services.consent_record(
        net.primary,
        net.patient.pk,
        organization_ids=[net.clinic.pk, net.station.pk],
        items=["record", "contact_book", "photos"],
        method="verbal",
    )
    disclosed = Disclosure.objects.filter(consent=consent)
    assert {d.organization_id for d in disclosed} == {net.clinic.pk, net.station.pk}
    assert all(d.items == ["record", "contact_book", "photos"] for d in disclosed)
    assert not can_see_patient(net.pharmacist, net.patient)


# --- the report --------------------------------------------------------------------------


def _disclosed(net: Any, count: int) -> None:
    for n in range(count):
        org = OrganizationFactory(kind=OrganizationKind.PHARMACY)
        net.lead_clinic.networks.get().organizations.add(org)
        Disclosure.objects.create(
            patient=net.patient,
            organization=org,
            consent=_consent(net),
            items=["record", "contact_book"],
            by=net.primary,
            at=timezone.now() - dt.timedelta(days=n),
        )


def test_the_report_lists_each_disclosure_newest_first(net, api_as):
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.clinic.pk])
    services.consent_change(
        net.secondary, net.patient.pk, organization_ids=[net.clinic.pk, net.station.pk]
    )
    body = api_as(net.coordinator).get(url(net.patient, "disclosures/")).json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["organization"] == {"id": net.station.pk, "name": net.station.name}
    assert row["items"] == ["record", "contact_book"]
    assert row["consent"] == _consent(net).pk
    assert row["by"]["id"] == net.secondary.pk
    assert AuditEvent.objects.filter(
        actor=net.coordinator, action=AuditAction.READ, object_type="patients.disclosure"
    ).exists()


def test_the_report_is_paginated_in_a_constant_number_of_queries(net, api_as):
    client = api_as(net.primary)
    _disclosed(net, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(net.patient, "disclosures/")).json()["count"] == 2
    _disclosed(net, 8)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url(net.patient, "disclosures/?limit=5")).json()
    assert (page["count"], len(page["results"])) == (10, 5)
    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("primary", 200), ("secondary", 200), ("coordinator", 200), ("nurse", 403), ("outsider", 404)],
)
def test_who_sees_the_report(net, api_as, persona, status):
    assert api_as(getattr(net, persona)).get(url(net.patient, "disclosures/")).status_code == status


# --- recording consent: input ------------------------------------------------------------


def test_consent_is_recorded_with_its_organizations_items_method_and_date(net, api_as):
    services.consent_withdraw(net.primary, net.patient.pk)
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    response = api_as(net.primary).post(
        url(net.patient, "consent/"),
        {
            "organization_ids": [net.station.pk],
            "items": ["contact_book", "record"],
            "method": "verbal",
            "consented_on": day,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {o["id"] for o in body["organizations"]} == {net.lead_clinic.pk, net.station.pk}
    assert body["items"] == ["record", "contact_book"]
    assert (body["method"], body["consented_on"]) == ("verbal", day)
    state = api_as(net.coordinator).get(url(net.patient, "consent/")).json()
    assert state["active"]["id"] == body["id"]


def _bad_inputs(net: Any, other_network_org: Any) -> list[tuple[dict[str, Any], str]]:
    return [
        ({"organization_ids": []}, "organization_ids"),
        ({"organization_ids": [999_999]}, "organization_ids"),
        ({"organization_ids": [other_network_org.pk]}, "organization_ids"),
        ({"organization_ids": "1"}, "organization_ids"),
        ({"organization_ids": ["x"]}, "organization_ids"),
        ({}, "organization_ids"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_organizations_are_400_field_errors_when_recording_and_changing(net, api_as, case):
    body, field = _bad_inputs(net, net.other_clinic)[case]
    client = api_as(net.primary)
    changed = client.patch(url(net.patient, "consent/"), body, format="json")
    assert changed.status_code == 400, changed.content
    assert field in changed.json()["error"]["fields"]
    services.consent_withdraw(net.primary, net.patient.pk)
    recorded = client.post(url(net.patient, "consent/"), body, format="json")
    assert recorded.status_code == 400, recorded.content
    assert field in recorded.json()["error"]["fields"]
    assert Consent.objects.filter(patient=net.patient).count() == 1


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"items": ["record"]}, "items"),
        ({"items": ["record", "contact_book", "x-rays"]}, "items"),
        ({"method": "telepathy"}, "method"),
        ({"consented_on": "2999-01-01"}, "consented_on"),
        ({"consented_on": "2024-02-30"}, "consented_on"),
    ],
)
def test_bad_items_method_or_date_are_400_field_errors(net, api_as, extra, field):
    services.consent_withdraw(net.primary, net.patient.pk)
    body = {"organization_ids": [net.station.pk], **extra}
    response = api_as(net.primary).post(url(net.patient, "consent/"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_only_those_who_record_consent_may_change_its_organizations(net, api_as):
    response = api_as(net.nurse).patch(
        url(net.patient, "consent/"), {"organization_ids": [net.station.pk]}, format="json"
    )
    assert response.status_code == 403
    # The coordinator sees the consent, not the patient: like an outsider for this.
    with pytest.raises(NotFound):
        services.consent_change(net.coordinator, net.patient.pk, organization_ids=[net.station.pk])


# --- the pages ---------------------------------------------------------------------------


def test_the_patient_page_shows_the_covered_organizations(net, client):
    client.force_login(net.nurse)
    body = client.get(reverse("patient-detail", args=[net.patient.pk])).content.decode()
    assert "患者の同意" in body
    assert net.station.name in body
    assert reverse("patient-consent", args=[net.patient.pk]) in body


def test_the_patient_page_shows_the_withdrawal_to_the_primary(net, client):
    services.consent_withdraw(net.secondary, net.patient.pk)
    client.force_login(net.primary)
    body = client.get(reverse("patient-detail", args=[net.patient.pk])).content.decode()
    assert 'data-testid="consent-withdrawn"' in body
    assert "撤回されました" in body


def test_the_consent_page_shows_the_report_to_the_coordinator_without_the_record(net, client):
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.clinic.pk])
    services.consent_change(
        net.primary, net.patient.pk, organization_ids=[net.clinic.pk, net.station.pk]
    )
    client.force_login(net.coordinator)
    response = client.get(reverse("patient-consent", args=[net.patient.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-testid="disclosure"') == 1
    assert net.station.name in body
    assert 'href="{}"'.format(reverse("patient-detail", args=[net.patient.pk])) not in body
    assert 'action="' + reverse("patient-consent-change", args=[net.patient.pk]) not in body


def test_the_consent_page_hides_the_report_from_a_nurse(net, client):
    client.force_login(net.nurse)
    response = client.get(reverse("patient-consent", args=[net.patient.pk]))
    assert response.status_code == 200
    assert 'id="sec-disclosures"' not in response.content.decode()


def test_the_primary_changes_the_organizations_on_the_consent_page(net, client):
    client.force_login(net.primary)
    page = reverse("patient-consent-change", args=[net.patient.pk])
    response = client.post(page, {"organizations": [net.clinic.pk, net.pharmacy.pk]})
    assert response.status_code == 302
    assert set(_consent(net).organizations.all()) == {net.lead_clinic, net.clinic, net.pharmacy}
    assert not can_see_patient(net.nurse, net.patient)


def test_the_consent_page_form_refuses_bad_input_next_to_the_field(net, client):
    services.consent_withdraw(net.primary, net.patient.pk)
    client.force_login(net.primary)
    response = client.post(
        reverse("patient-consent-record", args=[net.patient.pk]),
        {"organizations": [], "items": ["record", "contact_book"], "method": "written"},
    )
    assert response.status_code == 400
    assert "同意の対象の組織を1つ以上選んでください。" in response.content.decode()
    assert not Consent.objects.filter(patient=net.patient, withdrawn_at__isnull=True).exists()


def test_the_primary_records_consent_on_the_page(net, client):
    services.consent_withdraw(net.primary, net.patient.pk)
    client.force_login(net.primary)
    response = client.post(
        reverse("patient-consent-record", args=[net.patient.pk]),
        {
            "organizations": [net.station.pk],
            "items": ["record", "contact_book"],
            "method": "written",
        },
    )
    assert response.status_code == 302
    assert can_see_patient(net.nurse, net.patient)
    assert Disclosure.objects.filter(organization=net.station).count() == 1


# --- the migration -----------------------------------------------------------------------


def test_the_migration_covers_the_current_team_of_an_active_consent(net):
    from importlib import import_module

    migration = import_module("patients.migrations.0003_consent_organizations_disclosures")
    patient = PatientFactory(managing_organization=net.lead_clinic)
    consent = ConsentFactory(patient=patient, organizations=[])
    consent.organizations.clear()
    services_place = CareTeamMember.objects.create(
        patient=patient,
        user=net.nurse,
        role=CareRole.VISITING_NURSE,
        organization=net.station,
        start_date=timezone.localdate(),
    )
    CareTeamMember.objects.create(
        patient=patient,
        user=net.pharmacist,
        role=CareRole.PHARMACIST,
        organization=net.pharmacy,
        start_date=timezone.localdate() - dt.timedelta(days=9),
        end_date=timezone.localdate() - dt.timedelta(days=1),
    )
    migration.cover_the_current_teams(django_apps, None)
    assert set(consent.organizations.all()) == {net.lead_clinic, services_place.organization}


def test_the_report_downloads_as_csv_for_those_who_see_it(net, client):
    services.consent_change(net.primary, net.patient.pk, organization_ids=[net.clinic.pk])
    services.consent_change(
        net.primary, net.patient.pk, organization_ids=[net.clinic.pk, net.station.pk]
    )
    csv_url = reverse("patient-disclosures-csv", args=[net.patient.pk])
    client.force_login(net.secondary)
    response = client.get(csv_url)
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("提供日時,提供先,提供した情報")
    assert len(lines) == 2
    assert net.station.name in lines[1]
    client.force_login(net.nurse)
    assert client.get(csv_url).status_code == 403
    client.force_login(net.outsider)
    assert client.get(csv_url).status_code == 404
