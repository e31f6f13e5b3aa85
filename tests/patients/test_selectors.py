"""Reads in `patients.selectors`: scoped by the gate, audited, in the expected order."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from config.errors import DomainError, NotFound
from patients import selectors, services
from patients.models import BreakGlassGrant, CareRole, CareTeamMember
from tests.factories import CareTeamMemberFactory, PatientFactory
from tests.patients.factories import CareWishFactory, ProblemFactory

pytestmark = pytest.mark.django_db


def test_patient_list_annotates_my_role(net):
    [patient] = selectors.patient_list(net.secondary)
    assert patient.my_role == CareRole.SECONDARY_PHYSICIAN


def test_patient_list_audits_the_patients_taken_from_it_not_the_count(net):
    other = PatientFactory(managing_organization=net.lead_clinic)
    CareTeamMemberFactory(patient=other, user=net.nurse, role=CareRole.PRIMARY_PHYSICIAN)
    patients = selectors.patient_list(net.nurse)
    assert patients.count() == 2
    assert not AuditEvent.objects.exists()
    [shown] = patients[0:1]
    rows = AuditEvent.objects.filter(action=AuditAction.LIST, actor_id=net.nurse.pk)
    assert [(r.patient_id, r.object_type) for r in rows] == [(shown.pk, "patients.patient")]


def test_patient_list_includes_break_glass_patients_without_a_role(net):
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.stranger,
        reason="救急搬送時の情報確認",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    [patient] = selectors.patient_list(net.stranger)
    assert patient.my_role is None


def test_patient_list_refuses_an_unknown_status(net):
    with pytest.raises(DomainError):
        selectors.patient_list(net.nurse, status="flying")


@pytest.mark.parametrize(
    "read",
    [
        lambda u, p: selectors.patient_get(u, p),
        lambda u, p: selectors.care_team_list(u, p),
        lambda u, p: selectors.record_items(u, p, kind="problems"),
        lambda u, p: selectors.current_wishes(u, p),
        lambda u, p: selectors.wish_history(u, p, kind="green"),
        lambda u, p: selectors.wishes_overview(u, p),
        lambda u, p: selectors.record_history(u, p),
        lambda u, p: selectors.consent_list(u, p),
    ],
)
def test_every_patient_read_is_gated_and_audited(net, read):
    with pytest.raises(NotFound):
        read(net.outsider, net.patient.pk)
    with pytest.raises(NotFound):
        read(net.nurse, 999_999)
    assert not AuditEvent.objects.exists()
    read(net.nurse, net.patient.pk)
    row = AuditEvent.objects.get()
    assert (row.actor_id, row.patient_id, row.action) == (
        net.nurse.pk,
        net.patient.pk,
        AuditAction.READ,
    )


def test_care_team_list_leaves_out_ended_and_future_places(net):
    today = timezone.localdate()
    CareTeamMemberFactory(patient=net.patient, end_date=today - dt.timedelta(days=1))
    CareTeamMemberFactory(patient=net.patient, start_date=today + dt.timedelta(days=1))
    team = selectors.care_team_list(net.nurse, net.patient.pk)
    assert {m.user_id for m in team} == {
        net.primary.pk,
        net.secondary.pk,
        net.nurse.pk,
        net.pharmacist.pk,
    }


def test_record_items_are_only_the_patients_own(net):
    mine = ProblemFactory(patient=net.patient, updated_by=net.primary)
    ProblemFactory(patient=PatientFactory(), updated_by=net.primary)
    assert list(selectors.record_items(net.nurse, net.patient.pk, kind="problems")) == [mine]


def test_current_wishes_are_the_newest_per_kind(net):
    CareWishFactory(patient=net.patient, recorded_by=net.primary, preference="自宅")
    newest = services.wish_set(net.nurse, net.patient.pk, kind="green", preference="施設")
    current = selectors.current_wishes(net.nurse, net.patient.pk)
    assert current == {"green": newest, "yellow": None}
    history = selectors.wish_history(net.nurse, net.patient.pk, kind="green")
    assert [w.preference for w in history] == ["施設", "自宅"]


def test_record_history_is_newest_first(net):
    first = services.record_item_create(
        net.nurse, net.patient.pk, kind="problems", data={"name": "a"}
    )
    services.record_item_update(
        net.nurse, net.patient.pk, kind="problems", item_id=first.pk, data={"name": "b"}
    )
    changes = selectors.record_history(net.nurse, net.patient.pk)
    assert [c.snapshot["name"] for c in changes] == ["b", "a"]


def test_a_removed_member_no_longer_reads_through_the_selectors(net):
    CareTeamMember.objects.filter(patient=net.patient, user=net.nurse).update(
        end_date=timezone.localdate() - dt.timedelta(days=1)
    )
    with pytest.raises(NotFound):
        selectors.patient_get(net.nurse, net.patient.pk)
