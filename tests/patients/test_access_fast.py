"""The patient rule compiled once (`config.compiled_sql`) gives the same answer as the ORM.

`patients.access.patient_rule` is the rule; the hot paths run it compiled once with sentinels
and bound per call. Each case below changes the team, the consent or the grants, and then, for
every persona and for two patients, the two forms must agree, the people who see `net.patient`
must be exactly the ones the case names (so that agreeing on "nobody" cannot pass by
accident), and the compiled audience (who receives the patient's live events) must be those of
them whose grant receives events: the care team, not a break-glass reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone

from config.compiled_sql import NOW, PATIENT, TODAY, USER, SqlTemplate
from patients.access import Moment, patient_audience_sql, patient_rule, patients_visible_to
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Consent, Patient
from teams.identity import AnyUser
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db

PERSONAS = ("primary", "secondary", "nurse", "pharmacist", "coordinator", "outsider", "stranger")
TEAM = {"primary", "secondary", "nurse", "pharmacist"}


def _today() -> dt.date:
    return timezone.localdate()


def _place(net: Any, name: str) -> CareTeamMember:
    return CareTeamMember.objects.get(patient=net.patient, user=getattr(net, name))


def _nothing(net: Any) -> None:
    pass


def _nurse_place_ended_yesterday(net: Any) -> None:
    CareTeamMember.objects.filter(pk=_place(net, "nurse").pk).update(
        end_date=_today() - dt.timedelta(days=1)
    )


def _nurse_place_ends_today(net: Any) -> None:
    CareTeamMember.objects.filter(pk=_place(net, "nurse").pk).update(end_date=_today())


def _nurse_place_starts_tomorrow(net: Any) -> None:
    CareTeamMember.objects.filter(pk=_place(net, "nurse").pk).update(
        start_date=_today() + dt.timedelta(days=1)
    )


def _nurse_place_starts_today(net: Any) -> None:
    CareTeamMember.objects.filter(pk=_place(net, "nurse").pk).update(start_date=_today())


def _consent_withdrawn(net: Any) -> None:
    Consent.objects.filter(patient=net.patient).update(withdrawn_at=timezone.now())


def _consent_withdrawn_and_primary_place_ended(net: Any) -> None:
    _consent_withdrawn(net)
    CareTeamMember.objects.filter(pk=_place(net, "primary").pk).update(
        end_date=_today() - dt.timedelta(days=1)
    )


def _consent_withdrawn_secondary_also_primary_in_future(net: Any) -> None:
    # A primary-physician place that has not started yet gives nothing, consent or not.
    _consent_withdrawn(net)
    CareTeamMember.objects.filter(pk=_place(net, "primary").pk).update(
        end_date=_today() - dt.timedelta(days=1)
    )
    CareTeamMemberFactory(
        patient=net.patient,
        user=net.secondary,
        role=CareRole.PRIMARY_PHYSICIAN,
        start_date=_today() + dt.timedelta(days=1),
    )


def _outsider_has_an_ended_and_an_active_place(net: Any) -> None:
    CareTeamMemberFactory(
        patient=net.patient,
        user=net.outsider,
        role=CareRole.CARE_WORKER,
        start_date=_today() - dt.timedelta(days=60),
        end_date=_today() - dt.timedelta(days=30),
    )
    CareTeamMemberFactory(patient=net.patient, user=net.outsider, role=CareRole.THERAPIST)


def _station_not_covered(net: Any) -> None:
    Consent.objects.get(patient=net.patient).organizations.remove(net.station)


def _nurse_place_without_organization(net: Any) -> None:
    CareTeamMember.objects.filter(pk=_place(net, "nurse").pk).update(organization=None)


def _station_not_covered_by_a_withdrawn_consent_covering_it(net: Any) -> None:
    # An older, withdrawn consent that covered the station gives nothing.
    _station_not_covered(net)
    ConsentFactory(patient=net.patient, recorded_by=net.primary, withdrawn_at=timezone.now())


def _stranger_breaks_the_glass(net: Any) -> None:
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.stranger,
        reason="救急搬送時の情報確認",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )


def _stranger_breaks_the_glass_with_consent_withdrawn(net: Any) -> None:
    _stranger_breaks_the_glass(net)
    _consent_withdrawn(net)


def _stranger_grant_expired(net: Any) -> None:
    _stranger_breaks_the_glass(net)
    past = timezone.now() - dt.timedelta(hours=2)
    BreakGlassGrant.objects.filter(user=net.stranger).update(
        granted_at=past - dt.timedelta(hours=1), expires_at=past
    )


def _nurse_deactivated(net: Any) -> None:
    net.nurse.is_active = False
    net.nurse.save(update_fields=["is_active"])


def _primary_deactivated(net: Any) -> None:
    net.primary.is_active = False
    net.primary.save(update_fields=["is_active"])


def can_access_patient_id(user: AnyUser, patient_id: int) -> bool:
    """The rule for one patient as the hot paths run it: compiled once, bound per call."""
    if not user.is_authenticated or not user.is_active:
        return False
    at = Moment(today=TODAY.sentinel, now=NOW.sentinel)
    query = Patient.objects.filter(pk=PATIENT.sentinel).filter(
        patient_rule(USER.sentinel, "pk", at)
    )
    template = SqlTemplate.of_queryset(query.values("pk"), [USER, PATIENT, TODAY, NOW])
    values = {USER.name: user.pk, PATIENT.name: patient_id, **Moment.current().values()}
    with connection.cursor() as cursor:
        cursor.execute(template.sql, template.bind(values))
        return cursor.fetchone() is not None


def audience_of(patient_id: int) -> set[int]:
    template = patient_audience_sql()
    values = {PATIENT.name: patient_id, **Moment.current().values()}
    with connection.cursor() as cursor:
        cursor.execute(template.sql, template.bind(values))
        return {row[0] for row in cursor.fetchall()}


CASES: list[tuple[Callable[[Any], None], set[str]]] = [
    (_nothing, TEAM),
    (_nurse_place_ended_yesterday, TEAM - {"nurse"}),
    (_nurse_place_ends_today, TEAM),
    (_nurse_place_starts_tomorrow, TEAM - {"nurse"}),
    (_nurse_place_starts_today, TEAM),
    (_consent_withdrawn, {"primary"}),
    (_consent_withdrawn_and_primary_place_ended, set()),
    (_consent_withdrawn_secondary_also_primary_in_future, set()),
    (_outsider_has_an_ended_and_an_active_place, TEAM | {"outsider"}),
    (_station_not_covered, TEAM - {"nurse"}),
    (_nurse_place_without_organization, TEAM - {"nurse"}),
    (_station_not_covered_by_a_withdrawn_consent_covering_it, TEAM - {"nurse"}),
    (_stranger_breaks_the_glass, TEAM | {"stranger"}),
    (_stranger_breaks_the_glass_with_consent_withdrawn, {"primary", "stranger"}),
    (_stranger_grant_expired, TEAM),
    (_nurse_deactivated, TEAM - {"nurse"}),
    (_primary_deactivated, TEAM - {"primary"}),
]


@pytest.mark.parametrize(("change", "who_sees"), CASES, ids=[c.__name__[1:] for c, _ in CASES])
def test_fast_check_agrees_with_the_gate_for_every_persona(
    net: Any, change: Callable[[Any], None], who_sees: set[str]
) -> None:
    # A second patient the same people are on, without consent: only its primary sees it.
    other = PatientFactory()
    CareTeamMemberFactory(patient=other, user=net.nurse, role=CareRole.PRIMARY_PHYSICIAN)
    CareTeamMemberFactory(patient=other, user=net.pharmacist, role=CareRole.PHARMACIST)
    change(net)

    seen: set[str] = set()
    for name in PERSONAS:
        user = getattr(net, name)
        user.refresh_from_db()
        for patient in (net.patient, other):
            expected = patients_visible_to(user).filter(pk=patient.pk).exists()
            assert can_access_patient_id(user, patient.pk) is expected, (name, patient)
        if can_access_patient_id(user, net.patient.pk):
            seen.add(name)
    assert seen == who_sees
    team_seen = {getattr(net, name).pk for name in who_sees - {"stranger"}}
    assert audience_of(net.patient.pk) == team_seen


def test_anonymous_user_and_missing_patient_are_refused(net: Any) -> None:
    assert can_access_patient_id(AnonymousUser(), net.patient.pk) is False
    assert can_access_patient_id(net.primary, 999_999) is False


def test_fast_check_runs_one_query(net: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert can_access_patient_id(net.nurse, net.patient.pk) is True
