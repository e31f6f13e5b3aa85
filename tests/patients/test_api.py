"""The patients API: status codes, the one error shape, audit rows and pinned query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from patients import services
from patients.models import (
    BreakGlassGrant,
    CareRole,
    CareTeamMember,
    CareWish,
    Consent,
    Patient,
    Problem,
    RecordChange,
)
from teams.models import Profession
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory, UserFactory
from tests.patients.factories import RECORD_FACTORIES, CareWishFactory, ProblemFactory

pytestmark = pytest.mark.django_db


def url(patient: Patient, suffix: str = "") -> str:
    return f"/api/v1/patients/{patient.pk}/{suffix}"


def _more_patients(net, count: int) -> list[Patient]:
    patients = []
    for i in range(count):
        patient = PatientFactory(name_kana=f"ん{i:03d}", managing_organization=net.lead_clinic)
        ConsentFactory(patient=patient, recorded_by=net.primary)
        CareTeamMemberFactory(patient=patient, user=net.nurse, role=CareRole.VISITING_NURSE)
        patients.append(patient)
    return patients


# --- patients list -----------------------------------------------------------------------


def test_the_patient_list_shows_my_patients_with_my_role(net, api_as):
    response = api_as(net.nurse).get("/api/v1/patients/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == net.patient.pk
    assert row["name"] == "小林 ハル"
    assert row["my_role"] == CareRole.VISITING_NURSE


@pytest.mark.parametrize("extra", [0, 7])
def test_the_patient_list_costs_the_same_queries_for_one_or_many_rows(
    net, api_as, django_assert_num_queries, extra
):
    _more_patients(net, extra)
    client = api_as(net.nurse)
    # count, page (gate and role as subqueries), one bulk insert of audit rows
    with django_assert_num_queries(3):
        response = client.get("/api/v1/patients/")
    assert len(response.json()["results"]) == 1 + extra


def test_the_patient_list_audits_one_list_row_per_patient_shown(net, api_as):
    _more_patients(net, 4)
    response = api_as(net.nurse).get("/api/v1/patients/?limit=2")
    shown = [p["id"] for p in response.json()["results"]]
    rows = AuditEvent.objects.filter(action=AuditAction.LIST, actor_id=net.nurse.pk)
    assert sorted(rows.values_list("patient_id", flat=True)) == sorted(shown)
    assert len(shown) == 2


def test_the_patient_list_filters_by_status_and_text(net, api_as):
    [other] = _more_patients(net, 1)
    other.status = "hospitalized"
    other.save()
    client = api_as(net.nurse)
    hospitalized = client.get("/api/v1/patients/?status=hospitalized").json()["results"]
    assert [p["id"] for p in hospitalized] == [other.pk]
    found = client.get("/api/v1/patients/?q=こばやし").json()["results"]
    assert [p["id"] for p in found] == [net.patient.pk]


def test_an_unknown_status_filter_is_a_400_in_the_error_shape(net, api_as):
    response = api_as(net.nurse).get("/api/v1/patients/?status=nowhere")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


# --- create, read, update ----------------------------------------------------------------


def test_creating_a_patient_through_the_api(net, api_as):
    response = api_as(net.primary).post(
        "/api/v1/patients/",
        {
            "name": "中村 トメ",
            "name_kana": "なかむら とめ",
            "date_of_birth": "1935-05-05",
            "sex": "female",
            "managing_organization_id": net.lead_clinic.pk,
            "primary_physician_id": net.primary.pk,
        },
        format="json",
    )
    assert response.status_code == 201
    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.care_level == "none"
    assert CareTeamMember.objects.filter(patient=patient, user=net.primary).exists()
    assert Consent.objects.filter(patient=patient, recorded_by=net.primary).exists()


def test_an_impossible_date_is_a_400_with_a_field_error(net, api_as):
    response = api_as(net.primary).post(
        "/api/v1/patients/",
        {
            "name": "中村 トメ",
            "name_kana": "なかむら とめ",
            "date_of_birth": "1935-02-30",
            "sex": "female",
            "managing_organization_id": net.lead_clinic.pk,
            "primary_physician_id": net.primary.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "date_of_birth" in response.json()["error"]["fields"]


def test_an_unknown_organization_is_a_400_not_a_500(net, api_as):
    response = api_as(net.primary).post(
        "/api/v1/patients/",
        {
            "name": "中村 トメ",
            "name_kana": "なかむら とめ",
            "date_of_birth": "1935-02-01",
            "sex": "female",
            "managing_organization_id": 999_999,
            "primary_physician_id": net.primary.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "managing_organization_id" in response.json()["error"]["fields"]


def test_reading_the_patient_writes_an_audit_read_row(net, api_as):
    response = api_as(net.pharmacist).get(url(net.patient))
    assert response.status_code == 200
    assert response.json()["managing_organization"]["name"] == "みどり在宅クリニック"
    row = AuditEvent.objects.get(action=AuditAction.READ)
    assert (row.actor_id, row.patient_id, row.object_type) == (
        net.pharmacist.pk,
        net.patient.pk,
        "patients.patient",
    )
    assert row.ip_address == "127.0.0.1"


def test_patching_the_patient_changes_only_the_sent_fields(net, api_as):
    response = api_as(net.nurse).patch(
        url(net.patient), {"address": "東京都中央区1-2-3"}, format="json"
    )
    assert response.status_code == 200
    net.patient.refresh_from_db()
    assert net.patient.address == "東京都中央区1-2-3"
    assert net.patient.name == "小林 ハル"


def test_patching_a_future_date_of_birth_is_a_400(net, api_as):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    response = api_as(net.nurse).patch(url(net.patient), {"date_of_birth": tomorrow}, format="json")
    assert response.status_code == 400
    assert "date_of_birth" in response.json()["error"]["fields"]


# --- care team ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 6])
def test_the_care_team_costs_the_same_queries_for_one_or_many_members(
    net, api_as, django_assert_num_queries, extra
):
    for _ in range(extra):
        CareTeamMemberFactory(patient=net.patient, role=CareRole.CARE_WORKER)
    client = api_as(net.nurse)
    # gate, audit row, members with user and organization
    with django_assert_num_queries(3):
        response = client.get(url(net.patient, "care-team/"))
    assert len(response.json()) == 4 + extra


def test_the_care_team_lists_only_active_places(net, api_as):
    CareTeamMemberFactory(
        patient=net.patient,
        role=CareRole.CARE_WORKER,
        end_date=timezone.localdate() - dt.timedelta(days=1),
    )
    roles = [m["role"] for m in api_as(net.nurse).get(url(net.patient, "care-team/")).json()]
    assert sorted(roles) == sorted(
        ["primary_physician", "secondary_physician", "visiting_nurse", "pharmacist"]
    )


def test_adding_and_ending_a_place_through_the_api(net, api_as):
    client = api_as(net.primary)
    response = client.post(
        url(net.patient, "care-team/"),
        {"user_id": net.coordinator.pk, "role": "care_manager"},
        format="json",
    )
    assert response.status_code == 201
    member_id = response.json()["id"]
    assert response.json()["user"]["display_name"] == "田中 陽子"
    today = timezone.localdate().isoformat()
    response = client.patch(
        url(net.patient, f"care-team/{member_id}/"), {"end_date": today}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["end_date"] == today


def test_adding_a_second_primary_through_the_api_is_a_400(net, api_as):
    other = UserFactory(profession=Profession.PHYSICIAN)
    response = api_as(net.primary).post(
        url(net.patient, "care-team/"),
        {"user_id": other.pk, "role": "primary_physician"},
        format="json",
    )
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]


def test_a_race_on_the_care_team_gives_a_400_through_the_api(net, api_as, monkeypatch):
    monkeypatch.setattr(services, "_check_physician_place", lambda *a, **k: None)
    other = UserFactory(profession=Profession.PHYSICIAN)
    response = api_as(net.primary).post(
        url(net.patient, "care-team/"),
        {"user_id": other.pk, "role": "secondary_physician"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_replacing_the_primary_through_the_api(net, api_as):
    new = UserFactory(profession=Profession.PHYSICIAN)
    start = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = api_as(net.primary).post(
        url(net.patient, "care-team/primary/"),
        {"user_id": new.pk, "start_date": start},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["start_date"] == start


# --- consent -----------------------------------------------------------------------------


def test_consent_can_be_read_withdrawn_and_recorded_again(net, api_as):
    client = api_as(net.primary)
    state = client.get(url(net.patient, "consent/")).json()
    assert state["active"]["recorded_by"]["id"] == net.primary.pk
    assert client.delete(url(net.patient, "consent/")).status_code == 200
    assert client.get(url(net.patient, "consent/")).json()["active"] is None
    again = {"organization_ids": [net.station.pk], "note": "再同意"}
    response = client.post(url(net.patient, "consent/"), again, format="json")
    assert response.status_code == 201
    assert len(client.get(url(net.patient, "consent/")).json()["history"]) == 2


# --- the shared record -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RECORD_FACTORIES))
@pytest.mark.parametrize("count", [1, 6])
def test_record_lists_cost_the_same_queries_for_one_or_many_items(
    net, api_as, django_assert_num_queries, kind, count
):
    for _ in range(count):
        RECORD_FACTORIES[kind](patient=net.patient, updated_by=net.primary)
    client = api_as(net.nurse)
    # gate, audit row, count, page with the editor
    with django_assert_num_queries(4):
        response = client.get(url(net.patient, f"{kind}/"))
    assert response.json()["count"] == count
    assert response.json()["results"][0]["updated_by"]["id"] == net.primary.pk


def test_reading_a_record_list_is_audited(net, api_as):
    api_as(net.nurse).get(url(net.patient, "medications/"))
    row = AuditEvent.objects.get(action=AuditAction.READ)
    assert (row.patient_id, row.object_type) == (net.patient.pk, "patients.medication")


def test_record_items_are_created_updated_and_deleted_through_the_api(net, api_as):
    # The pharmacist: the medication list is the prescribers' and the dispensers' (POLICY).
    client = api_as(net.pharmacist)
    response = client.post(
        url(net.patient, "medications/"),
        {"name": "アムロジピン錠5mg", "dose": "1日1回", "start_date": "2024-04-01"},
        format="json",
    )
    assert response.status_code == 201
    item_id = response.json()["id"]
    response = client.patch(
        url(net.patient, f"medications/{item_id}/"), {"end_date": "2024-06-30"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["end_date"] == "2024-06-30"
    assert client.delete(url(net.patient, f"medications/{item_id}/")).status_code == 204
    actions = list(
        RecordChange.objects.filter(item_id=item_id).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["create", "update", "delete"]


def test_a_medication_ending_before_it_starts_is_a_400(net, api_as):
    response = api_as(net.pharmacist).post(
        url(net.patient, "medications/"),
        {"name": "x", "start_date": "2024-04-02", "end_date": "2024-04-01"},
        format="json",
    )
    assert response.status_code == 400
    assert "end_date" in response.json()["error"]["fields"]


def test_an_item_of_another_patient_is_404_through_the_api(net, api_as):
    other = ProblemFactory(patient=PatientFactory(), updated_by=net.primary)
    response = api_as(net.nurse).delete(url(net.patient, f"problems/{other.pk}/"))
    assert response.status_code == 404
    assert Problem.objects.filter(pk=other.pk).exists()


def test_the_record_history_lists_changes_newest_first(net, api_as):
    client = api_as(net.nurse)
    client.post(url(net.patient, "problems/"), {"name": "褥瘡"}, format="json")
    client.post(url(net.patient, "allergies/"), {"substance": "卵"}, format="json")
    results = client.get(url(net.patient, "history/")).json()["results"]
    assert [(r["item_type"], r["action"]) for r in results] == [
        ("allergies", "create"),
        ("problems", "create"),
    ]
    assert results[0]["snapshot"]["substance"] == "卵"


# --- wishes ------------------------------------------------------------------------------


def test_wishes_show_the_current_one_and_the_history(net, api_as):
    CareWishFactory(patient=net.patient, recorded_by=net.primary, preference="自宅")
    client = api_as(net.nurse)
    response = client.post(
        url(net.patient, "wishes/"),
        {"kind": "green", "preference": "ホスピス", "hospital_id": net.clinic.pk},
        format="json",
    )
    assert response.status_code == 201
    body = client.get(url(net.patient, "wishes/")).json()
    assert body["current"]["green"]["preference"] == "ホスピス"
    assert body["current"]["yellow"] is None
    assert [w["preference"] for w in body["history"]["green"]] == ["ホスピス", "自宅"]
    assert CareWish.objects.count() == 2


# --- break glass -------------------------------------------------------------------------


def test_an_outsider_breaks_the_glass_and_then_reads_the_patient(net, api_as):
    client = api_as(net.outsider)
    assert client.get(url(net.patient)).status_code == 404
    response = client.post(
        url(net.patient, "break-glass/"),
        {"reason": "夜間の急変対応で既往歴の確認が必要", "hours": 1},
        format="json",
    )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "patient", "granted_at", "expires_at"}
    assert client.get(url(net.patient)).status_code == 200
    assert BreakGlassGrant.objects.filter(user=net.outsider).count() == 1


def test_breaking_the_glass_for_too_long_is_a_400(net, api_as):
    response = api_as(net.outsider).post(
        url(net.patient, "break-glass/"),
        {"reason": "夜間の急変対応で既往歴の確認が必要", "hours": 48},
        format="json",
    )
    assert response.status_code == 400
    assert "hours" in response.json()["error"]["fields"]
    assert not BreakGlassGrant.objects.exists()


def test_breaking_the_glass_on_a_missing_patient_is_404(net, api_as):
    response = api_as(net.outsider).post(
        "/api/v1/patients/999999/break-glass/",
        {"reason": "夜間の急変対応で既往歴の確認が必要"},
        format="json",
    )
    assert response.status_code == 404


def test_writes_by_people_off_the_team_with_bad_input_are_404_not_field_errors(net, api_as):
    response = api_as(net.outsider).post(url(net.patient, "problems/"), {"name": ""}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {}
