"""The use cases of `patients.services`: what they change, what they refuse, what they audit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from config.errors import DomainError, Forbidden, NotFound
from patients import services, signals
from patients.access import can_see_patient
from patients.models import (
    BreakGlassGrant,
    CareLevel,
    CareRole,
    CareTeamMember,
    CareWish,
    Consent,
    Medication,
    Patient,
    PatientStatus,
    Problem,
    RecordChange,
    Sex,
)
from teams.models import Profession
from tests.factories import CareTeamMemberFactory, MembershipFactory, PatientFactory, UserFactory
from tests.patients.factories import ProblemFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def _fields(exc: pytest.ExceptionInfo[DomainError]) -> dict[str, list[str]]:
    return exc.value.fields


def _create(net, actor=None, **overrides):
    kwargs = {
        "name": "中村 トメ",
        "name_kana": "なかむら とめ",
        "date_of_birth": dt.date(1935, 5, 5),
        "sex": Sex.FEMALE,
        "care_level": CareLevel.CARE_3,
        "status": PatientStatus.AT_HOME,
        "managing_organization_id": net.lead_clinic.pk,
        "primary_physician_id": net.primary.pk,
        "consent_note": "本人と長男に説明し同意を得た",
    }
    kwargs.update(overrides)
    return services.patient_create(actor or net.primary, **kwargs)


def _primary_places(patient: Patient, on: dt.date | None = None):
    day = on or TODAY()
    return CareTeamMember.objects.filter(
        patient=patient, role=CareRole.PRIMARY_PHYSICIAN, start_date__lte=day
    ).exclude(end_date__lt=day)


# --- patient_create ----------------------------------------------------------------------


def test_creating_a_patient_adds_the_primary_from_today_and_the_consent_by_the_actor(net):
    patient = _create(net, actor=net.coordinator)
    place = CareTeamMember.objects.get(patient=patient)
    assert place.user == net.primary
    assert place.role == CareRole.PRIMARY_PHYSICIAN
    assert place.start_date == TODAY()
    assert place.end_date is None
    assert place.organization == net.lead_clinic
    consent = Consent.objects.get(patient=patient)
    assert consent.recorded_by == net.coordinator
    assert consent.note == "本人と長男に説明し同意を得た"
    assert can_see_patient(net.primary, patient)


def test_creating_a_patient_writes_an_audit_row_per_created_object(net):
    patient = _create(net)
    rows = AuditEvent.objects.filter(patient_id=patient.pk, action=AuditAction.CREATE)
    assert sorted(rows.values_list("object_type", flat=True)) == [
        "patients.careteammember",
        "patients.consent",
        "patients.patient",
    ]
    assert set(rows.values_list("actor_id", flat=True)) == {net.primary.pk}


def test_only_members_of_the_managing_organization_may_create_its_patients(net):
    with pytest.raises(DomainError) as exc:
        _create(net, actor=net.stranger)
    assert "managing_organization_id" in _fields(exc)
    assert not Patient.objects.filter(name="中村 トメ").exists()


def test_staff_may_create_a_patient_for_any_organization(net):
    net.stranger.is_staff = True
    net.stranger.save()
    assert _create(net, actor=net.stranger).managing_organization == net.lead_clinic


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"managing_organization_id": 999_999}, "managing_organization_id"),
        ({"primary_physician_id": 999_999}, "primary_physician_id"),
        ({"primary_physician_id": "abc"}, "primary_physician_id"),
        ({"date_of_birth": "2020-02-30"}, "date_of_birth"),
        ({"date_of_birth": "5 May 1935"}, "date_of_birth"),
        ({"sex": "robot"}, "sex"),
        ({"care_level": "care_9"}, "care_level"),
        ({"status": "gone"}, "status"),
        ({"name": "   "}, "name"),
    ],
)
def test_bad_input_to_patient_create_is_a_field_error_and_writes_nothing(net, override, field):
    before = Patient.objects.count()
    with pytest.raises(DomainError) as exc:
        _create(net, **override)
    assert field in _fields(exc)
    assert Patient.objects.count() == before


def test_date_of_birth_in_the_future_is_refused(net):
    with pytest.raises(DomainError) as exc:
        _create(net, date_of_birth=TODAY() + dt.timedelta(days=1))
    assert "date_of_birth" in _fields(exc)


def test_a_nurse_cannot_be_the_primary_physician_of_a_new_patient(net):
    with pytest.raises(DomainError) as exc:
        _create(net, primary_physician_id=net.nurse.pk)
    assert "primary_physician_id" in _fields(exc)


def test_a_failure_midway_through_patient_create_leaves_no_half_written_patient(net, monkeypatch):
    def broken(*args, **kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(services, "_default_organization", broken)
    before = (Patient.objects.count(), AuditEvent.objects.count())
    with pytest.raises(DomainError):
        _create(net)
    assert (Patient.objects.count(), AuditEvent.objects.count()) == before


# --- patient_update ----------------------------------------------------------------------


def test_a_team_member_updates_the_patient_and_the_audit_names_the_fields(net):
    services.patient_update(
        net.nurse, net.patient.pk, data={"status": "hospitalized", "phone": "03-1234-5678"}
    )
    net.patient.refresh_from_db()
    assert net.patient.status == PatientStatus.HOSPITALIZED
    assert net.patient.phone == "03-1234-5678"
    row = AuditEvent.objects.get(patient_id=net.patient.pk, action=AuditAction.UPDATE)
    assert row.actor_id == net.nurse.pk
    assert row.detail == "fields=phone,status"
    assert "03-1234-5678" not in row.detail


def test_someone_off_the_team_cannot_update_the_patient(net):
    with pytest.raises(NotFound):
        services.patient_update(net.outsider, net.patient.pk, data={"name": "x"})


def test_patient_update_refuses_fields_that_are_not_editable(net):
    with pytest.raises(DomainError) as exc:
        services.patient_update(
            net.primary, net.patient.pk, data={"managing_organization_id": net.clinic.pk}
        )
    assert "managing_organization_id" in _fields(exc)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"date_of_birth": "2023-02-29"}, "date_of_birth"),
        ({"date_of_birth": dt.date(2999, 1, 1)}, "date_of_birth"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"sex": "x"}, "sex"),
        ({"name": ""}, "name"),
        ({"name": ["a"]}, "name"),
    ],
)
def test_patient_update_bad_values_are_field_errors_and_change_nothing(net, data, field):
    with pytest.raises(DomainError) as exc:
        services.patient_update(net.primary, net.patient.pk, data=data)
    assert field in _fields(exc)
    net.patient.refresh_from_db()
    assert net.patient.name == "小林 ハル"
    assert net.patient.date_of_birth == dt.date(1940, 4, 1)


# --- care team ---------------------------------------------------------------------------


def test_a_team_member_adds_a_care_manager_who_then_sees_the_patient(net):
    place = services.care_team_add(
        net.primary, net.patient.pk, user_id=net.coordinator.pk, role=CareRole.CARE_MANAGER
    )
    assert place.start_date == TODAY()
    assert place.organization == net.lead_clinic
    assert can_see_patient(net.coordinator, net.patient)
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="patients.careteammember", object_id=str(place.pk)
    ).exists()


def test_someone_off_the_team_cannot_add_themselves(net):
    with pytest.raises(NotFound):
        services.care_team_add(
            net.outsider, net.patient.pk, user_id=net.outsider.pk, role=CareRole.OTHER
        )
    assert not CareTeamMember.objects.filter(user=net.outsider).exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "boss"}, "role"),
        ({"user_id": 999_999}, "user_id"),
        ({"organization_id": 999_999}, "organization_id"),
        ({"start_date": "2024-13-01"}, "start_date"),
        ({"start_date": "2023-02-29"}, "start_date"),
        ({"start_date": "2024-05-10", "end_date": "2024-05-09"}, "end_date"),
    ],
)
def test_bad_care_team_input_is_a_field_error(net, kwargs, field):
    args = {"user_id": net.coordinator.pk, "role": CareRole.CARE_MANAGER, **kwargs}
    with pytest.raises(DomainError) as exc:
        services.care_team_add(net.primary, net.patient.pk, **args)
    assert field in _fields(exc)


def test_a_second_primary_physician_cannot_be_added(net):
    other = UserFactory(profession=Profession.PHYSICIAN)
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary, net.patient.pk, user_id=other.pk, role=CareRole.PRIMARY_PHYSICIAN
        )
    assert "role" in _fields(exc)
    assert _primary_places(net.patient).count() == 1


def test_a_second_overlapping_secondary_physician_cannot_be_added(net):
    other = UserFactory(profession=Profession.PHYSICIAN)
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary,
            net.patient.pk,
            user_id=other.pk,
            role=CareRole.SECONDARY_PHYSICIAN,
            start_date=TODAY() + dt.timedelta(days=10),
        )
    assert "role" in _fields(exc)


def test_a_new_secondary_may_follow_the_old_one_after_its_end(net):
    current = CareTeamMember.objects.get(patient=net.patient, user=net.secondary)
    services.care_team_end(net.primary, net.patient.pk, current.pk, end_date=TODAY())
    other = UserFactory(profession=Profession.PHYSICIAN)
    MembershipFactory(user=other, organization=net.clinic)
    place = services.care_team_add(
        net.primary,
        net.patient.pk,
        user_id=other.pk,
        role=CareRole.SECONDARY_PHYSICIAN,
        start_date=TODAY() + dt.timedelta(days=1),
    )
    assert place.start_date == TODAY() + dt.timedelta(days=1)


def test_the_secondary_physician_must_be_a_physician(net):
    CareTeamMember.objects.filter(patient=net.patient, user=net.secondary).delete()
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary, net.patient.pk, user_id=net.nurse.pk, role=CareRole.SECONDARY_PHYSICIAN
        )
    assert "user_id" in _fields(exc)


def test_the_primary_cannot_also_be_the_secondary(net):
    CareTeamMember.objects.filter(patient=net.patient, user=net.secondary).delete()
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary, net.patient.pk, user_id=net.primary.pk, role=CareRole.SECONDARY_PHYSICIAN
        )
    assert "user_id" in _fields(exc)


def test_the_same_person_cannot_hold_the_same_role_twice_at_once(net):
    with pytest.raises(DomainError) as exc:
        services.care_team_add(
            net.primary, net.patient.pk, user_id=net.nurse.pk, role=CareRole.VISITING_NURSE
        )
    assert "user_id" in _fields(exc)


def test_a_race_past_the_checks_becomes_a_domain_error_not_a_crash(net, monkeypatch):
    # Two requests both passed the check; the partial unique index refuses the second.
    monkeypatch.setattr(services, "_check_physician_place", lambda *a, **k: None)
    other = UserFactory(profession=Profession.PHYSICIAN)
    with pytest.raises(DomainError):
        services.care_team_add(
            net.primary, net.patient.pk, user_id=other.pk, role=CareRole.SECONDARY_PHYSICIAN
        )
    assert not CareTeamMember.objects.filter(user=other).exists()
    # The surrounding transaction is still usable after the refused write.
    assert CareTeamMember.objects.filter(patient=net.patient).count() == 4


def test_ending_a_place_yesterday_removes_access_today(net):
    place = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    ended = services.care_team_end(
        net.primary, net.patient.pk, place.pk, end_date=TODAY() - dt.timedelta(days=1)
    )
    assert ended.end_date == TODAY() - dt.timedelta(days=1)
    assert not can_see_patient(net.nurse, net.patient)
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(place.pk), object_type="patients.careteammember"
    ).exists()


def test_a_place_cannot_end_before_it_starts(net):
    place = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    with pytest.raises(DomainError) as exc:
        services.care_team_end(
            net.primary, net.patient.pk, place.pk, end_date=place.start_date - dt.timedelta(1)
        )
    assert "end_date" in _fields(exc)


def test_the_primary_physicians_place_cannot_simply_end(net):
    place = CareTeamMember.objects.get(patient=net.patient, user=net.primary)
    with pytest.raises(DomainError) as exc:
        services.care_team_end(net.primary, net.patient.pk, place.pk, end_date=TODAY())
    assert "end_date" in _fields(exc)
    place.refresh_from_db()
    assert place.end_date is None


def test_a_place_of_another_patient_is_not_found(net):
    other_place = CareTeamMemberFactory(patient=PatientFactory(), user=net.nurse)
    with pytest.raises(NotFound):
        services.care_team_end(net.primary, net.patient.pk, other_place.pk, end_date=TODAY())


def test_replacing_the_primary_ends_the_old_place_the_day_before(net):
    new = UserFactory(profession=Profession.PHYSICIAN)
    MembershipFactory(user=new, organization=net.clinic)
    start = TODAY() + dt.timedelta(days=7)
    place = services.care_team_replace_primary(
        net.primary, net.patient.pk, user_id=new.pk, start_date=start
    )
    old = CareTeamMember.objects.get(patient=net.patient, user=net.primary)
    assert old.end_date == start - dt.timedelta(days=1)
    assert place.user == new
    assert place.start_date == start
    assert place.organization == net.clinic
    for day in (TODAY(), start - dt.timedelta(days=1), start, start + dt.timedelta(days=30)):
        assert _primary_places(net.patient, on=day).count() == 1


def test_replacing_the_primary_today_hands_over_access(net):
    new = UserFactory(profession=Profession.PHYSICIAN)
    services.care_team_replace_primary(net.secondary, net.patient.pk, user_id=new.pk)
    assert [p.user for p in _primary_places(net.patient)] == [new]
    assert not can_see_patient(net.primary, net.patient)
    assert can_see_patient(new, net.patient)


def test_replacing_the_primary_with_a_nurse_changes_nothing(net):
    with pytest.raises(DomainError) as exc:
        services.care_team_replace_primary(net.primary, net.patient.pk, user_id=net.nurse.pk)
    assert "user_id" in _fields(exc)
    old = CareTeamMember.objects.get(patient=net.patient, user=net.primary)
    assert old.end_date is None


def test_replacing_the_primary_with_the_same_physician_is_refused(net):
    with pytest.raises(DomainError) as exc:
        services.care_team_replace_primary(net.primary, net.patient.pk, user_id=net.primary.pk)
    assert "user_id" in _fields(exc)


def test_replacing_the_primary_on_the_day_their_place_started_is_refused(net):
    patient = _create(net)
    new = UserFactory(profession=Profession.PHYSICIAN)
    with pytest.raises(DomainError) as exc:
        services.care_team_replace_primary(net.primary, patient.pk, user_id=new.pk)
    assert "start_date" in _fields(exc)


# --- consent -----------------------------------------------------------------------------


def test_withdrawing_consent_hides_the_patient_from_the_team_but_the_primary(net):
    # The secondary physician, standing in for the primary (a nurse may not: POLICY).
    consent = services.consent_withdraw(net.secondary, net.patient.pk)
    assert consent.withdrawn_by == net.secondary
    assert consent.withdrawn_at is not None
    assert not can_see_patient(net.nurse, net.patient)
    assert can_see_patient(net.primary, net.patient)


def test_the_primary_records_consent_again_after_a_withdrawal(net):
    services.consent_withdraw(net.primary, net.patient.pk)
    station = [net.station.pk]
    consent = services.consent_record(
        net.primary, net.patient.pk, organization_ids=station, note="再同意"
    )
    assert consent.recorded_by == net.primary
    assert can_see_patient(net.nurse, net.patient)
    assert Consent.objects.filter(patient=net.patient).count() == 2


def test_consent_cannot_be_recorded_twice(net):
    with pytest.raises(DomainError):
        services.consent_record(net.primary, net.patient.pk, organization_ids=[net.station.pk])


def test_consent_cannot_be_withdrawn_twice(net):
    services.consent_withdraw(net.primary, net.patient.pk)
    with pytest.raises(DomainError):
        services.consent_withdraw(net.primary, net.patient.pk)


# --- the shared record -------------------------------------------------------------------


def _record_editor(net, kind):
    """A member who may edit this kind: the nurse, or for the medication list (which the
    nurse may not edit, `patients.access.POLICY`) the pharmacist."""
    return net.pharmacist if kind == "medications" else net.nurse


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("problems", {"name": "慢性心不全", "onset_date": "2021-04-01"}),
        ("medications", {"name": "フロセミド錠20mg", "dose": "1日1回 朝"}),
        ("allergies", {"substance": "ペニシリン", "severity": "severe"}),
        ("devices", {"name": "在宅酸素", "since": dt.date(2022, 1, 5)}),
        ("contacts", {"name": "小林 一郎", "relationship": "長男", "phone": "090-1111-2222"}),
    ],
)
def test_creating_a_record_item_writes_a_change_with_its_snapshot(net, kind, data):
    actor = _record_editor(net, kind)
    item = services.record_item_create(actor, net.patient.pk, kind=kind, data=data)
    change = RecordChange.objects.get(patient=net.patient)
    assert (change.item_type, change.item_id, change.action) == (kind, item.pk, "create")
    assert change.changed_by == actor
    assert change.snapshot["id"] == item.pk
    for key, value in data.items():
        expected = value.isoformat() if isinstance(value, dt.date) else value
        assert change.snapshot[key] == expected
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, patient_id=net.patient.pk, object_id=str(item.pk)
    ).exists()


def test_updating_a_record_item_keeps_the_old_state_in_the_history(net):
    item = services.record_item_create(
        net.nurse, net.patient.pk, kind="problems", data={"name": "褥瘡"}
    )
    services.record_item_update(
        net.primary, net.patient.pk, kind="problems", item_id=item.pk, data={"is_active": False}
    )
    item.refresh_from_db()
    assert item.is_active is False
    assert item.updated_by == net.primary
    snapshots = [
        (c.action, c.snapshot["is_active"])
        for c in RecordChange.objects.filter(item_id=item.pk).order_by("id")
    ]
    assert snapshots == [("create", True), ("update", False)]


def test_deleting_a_record_item_leaves_its_last_state_in_the_history(net):
    item = ProblemFactory(patient=net.patient, updated_by=net.primary, name="肺炎")
    services.record_item_delete(net.nurse, net.patient.pk, kind="problems", item_id=item.pk)
    assert not Problem.objects.filter(pk=item.pk).exists()
    change = RecordChange.objects.get(item_id=item.pk)
    assert change.action == "delete"
    assert change.snapshot["name"] == "肺炎"
    assert AuditEvent.objects.filter(
        action=AuditAction.DELETE, object_type="patients.problem", object_id=str(item.pk)
    ).exists()


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("problems", {"name": ""}, "name"),
        ("problems", {"name": "x", "onset_date": "2023-02-30"}, "onset_date"),
        ("problems", {"name": "x", "patient": 1}, "patient"),
        ("problems", {"name": "x", "updated_by": 1}, "updated_by"),
        ("allergies", {"substance": "卵", "severity": "deadly"}, "severity"),
        (
            "medications",
            {"name": "x", "start_date": "2024-05-02", "end_date": "2024-05-01"},
            "end_date",
        ),
        ("contacts", {"name": "x", "relationship": "妻"}, "phone"),
        ("vitals", {"name": "x"}, "kind"),
    ],
)
def test_bad_record_input_is_a_field_error_and_writes_nothing(net, kind, data, field):
    with pytest.raises(DomainError) as exc:
        services.record_item_create(_record_editor(net, kind), net.patient.pk, kind=kind, data=data)
    assert field in _fields(exc)
    assert not RecordChange.objects.exists()
    assert not Medication.objects.exists()


def test_an_item_of_another_patient_is_not_found(net):
    other = ProblemFactory(patient=PatientFactory(), updated_by=net.primary)
    with pytest.raises(NotFound):
        services.record_item_update(
            net.nurse, net.patient.pk, kind="problems", item_id=other.pk, data={"name": "x"}
        )
    with pytest.raises(NotFound):
        services.record_item_delete(net.nurse, net.patient.pk, kind="problems", item_id=other.pk)
    assert Problem.objects.filter(pk=other.pk).exists()


def test_an_outsider_cannot_write_to_the_record(net):
    with pytest.raises(NotFound):
        services.record_item_create(
            net.outsider, net.patient.pk, kind="problems", data={"name": "x"}
        )


# --- wishes ------------------------------------------------------------------------------


def test_wishes_are_append_only(net):
    first = services.wish_set(net.nurse, net.patient.pk, kind="green", preference="自宅")
    second = services.wish_set(
        net.primary,
        net.patient.pk,
        kind="green",
        preference="緩和ケア病棟",
        hospital_id=net.clinic.pk,
    )
    first.refresh_from_db()
    assert first.preference == "自宅"
    assert second.hospital == net.clinic
    assert CareWish.objects.filter(patient=net.patient, kind="green").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "red", "preference": "x"}, "kind"),
        ({"kind": "yellow", "preference": ""}, "preference"),
        ({"kind": "yellow", "preference": "x", "hospital_id": 999_999}, "hospital_id"),
    ],
)
def test_bad_wish_input_is_a_field_error(net, kwargs, field):
    with pytest.raises(DomainError) as exc:
        services.wish_set(net.nurse, net.patient.pk, **kwargs)
    assert field in _fields(exc)
    assert not CareWish.objects.exists()


# --- break glass -------------------------------------------------------------------------


def test_breaking_the_glass_gives_time_limited_access_and_is_audited(net):
    announced: list[BreakGlassGrant] = []

    def receive(sender: object, *, grant: BreakGlassGrant, **kwargs: object) -> None:
        announced.append(grant)

    signals.break_glass_opened.connect(receive, dispatch_uid="test-break-glass")
    try:
        grant = services.break_glass_open(
            net.stranger, net.patient.pk, reason="救急搬送、既往歴と服薬の確認が必要", hours=2
        )
    finally:
        signals.break_glass_opened.disconnect(dispatch_uid="test-break-glass")
    assert announced == [grant]
    assert can_see_patient(net.stranger, net.patient)
    assert dt.timedelta(hours=1, minutes=59) < grant.expires_at - timezone.now()
    assert grant.expires_at - timezone.now() <= dt.timedelta(hours=2)
    row = AuditEvent.objects.get(action=AuditAction.BREAK_GLASS)
    assert (row.actor_id, row.patient_id) == (net.stranger.pk, net.patient.pk)
    assert "救急搬送" in row.detail


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": "救急です"}, "reason"),
        ({"reason": "          ああ"}, "reason"),
        ({"reason": "救急搬送時の情報確認のため", "hours": 0}, "hours"),
        ({"reason": "救急搬送時の情報確認のため", "hours": 13}, "hours"),
        ({"reason": "救急搬送時の情報確認のため", "hours": "many"}, "hours"),
    ],
)
def test_break_glass_needs_a_real_reason_and_a_bounded_time(net, kwargs, field):
    with pytest.raises(DomainError) as exc:
        services.break_glass_open(net.outsider, net.patient.pk, **kwargs)
    assert field in _fields(exc)
    assert not BreakGlassGrant.objects.exists()


def test_only_physicians_and_nurses_may_break_the_glass(net):
    clerk = UserFactory(profession=Profession.CLERK)
    with pytest.raises(Forbidden):
        services.break_glass_open(clerk, net.patient.pk, reason="救急搬送時の情報確認のため")
    assert not BreakGlassGrant.objects.exists()


def test_breaking_the_glass_on_a_missing_patient_is_not_found(net):
    with pytest.raises(NotFound):
        services.break_glass_open(net.stranger, 999_999, reason="救急搬送時の情報確認のため")


# --- for the web forms -------------------------------------------------------------------


def test_services_are_plain_functions_usable_without_a_request(net):
    # A web form's cleaned_data (dates as date objects) goes straight into the service.
    cleaned = {"name": "小林 ハル", "date_of_birth": dt.date(1940, 4, 2), "address": ""}
    patient = services.patient_update(net.primary, net.patient.pk, data=cleaned)
    assert patient.date_of_birth == dt.date(1940, 4, 2)
    row = AuditEvent.objects.get(action=AuditAction.UPDATE)
    assert row.ip_address is None
