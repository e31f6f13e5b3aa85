"""The access gate decides who sees a patient."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from config.errors import NotFound
from patients.access import access_patient, patients_visible_to
from patients.models import BreakGlassGrant, CareTeamMember, Consent

pytestmark = pytest.mark.django_db


def test_team_members_see_the_patient(net):
    for user in (net.primary, net.secondary, net.nurse, net.pharmacist):
        assert list(patients_visible_to(user)) == [net.patient]


def test_same_organization_staff_off_the_team_do_not_see_the_patient(net):
    assert list(patients_visible_to(net.outsider)) == []
    with pytest.raises(NotFound):
        access_patient(net.outsider, net.patient.pk)


def test_network_coordinator_off_the_team_does_not_see_the_patient(net):
    assert list(patients_visible_to(net.coordinator)) == []


def test_ended_place_gives_no_access(net):
    place = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    place.end_date = timezone.localdate() - dt.timedelta(days=1)
    place.save()
    assert list(patients_visible_to(net.nurse)) == []


def test_place_starting_tomorrow_gives_no_access_yet(net):
    place = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    place.start_date = timezone.localdate() + dt.timedelta(days=1)
    place.save()
    assert list(patients_visible_to(net.nurse)) == []


def test_withdrawn_consent_hides_the_patient_from_all_but_the_primary(net):
    Consent.objects.filter(patient=net.patient).update(withdrawn_at=timezone.now())
    assert list(patients_visible_to(net.nurse)) == []
    assert list(patients_visible_to(net.primary)) == [net.patient]


def test_unexpired_break_glass_grant_gives_access(net):
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.stranger,
        reason="救急搬送時の情報確認",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    assert access_patient(net.stranger, net.patient.pk) == net.patient


def test_inactive_user_sees_nothing(net):
    net.nurse.is_active = False
    net.nurse.save()
    assert list(patients_visible_to(net.nurse)) == []


def test_garbage_patient_id_is_not_found(net):
    with pytest.raises(NotFound):
        access_patient(net.primary, "1 or 1=1")
