"""The access gate: the one place that decides who may see or change a patient.

A person sees a patient while one of the grants in `GRANTS` gives them a row, in force now,
that names them and the patient:
- a place on the patient's care team that is active today, with the patient's consent to
  share on record (the primary physician, who records that consent, without it);
- an unexpired emergency grant (break glass, `patients.services.break_glass_open`).

Nobody else sees the patient: staff of the same organization who are not on the team
included. "Missing" and "not yours" give the same `NotFound`, so ids cannot be probed.

The rule is written once, here, in the ORM. Every other form of it is generated from `GRANTS`:
the patient list (`patients_visible_to`), the thread gate and the receivers of a thread's
live events (`messaging.access`), and their SQL for the hot paths, which is this ORM compiled
once (`config.compiled_sql`). A new kind of grant (an on-call physician reached by an
escalation, a hospital invited to one conference) is one more `Grant` in `GRANTS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from config.compiled_sql import NOW, PATIENT, TODAY, SqlTemplate
from config.errors import NotFound
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Consent, Patient


@dataclass(frozen=True)
class Moment:
    """The day and the instant a rule is evaluated at."""

    today: dt.date
    now: dt.datetime

    @classmethod
    def current(cls) -> Moment:
        return cls(today=timezone.localdate(), now=timezone.now())

    def values(self) -> dict[str, Any]:
        """This moment as the values of the `TODAY` and `NOW` slots of a compiled rule."""
        return {TODAY.name: self.today, NOW.name: self.now}


@dataclass(frozen=True)
class Grant:
    """One way a person comes to see a patient.

    `rows(at)`: the rows in force at the moment `at`, each naming a person (`user_id`) and a
    patient (`patient_id`). `receives_events`: whether its holders also receive the live
    events of the patient's threads (a care team does; a break-glass reader reads, and is
    not part of the team's conversation).
    """

    name: str
    rows: Callable[[Moment], QuerySet[Any]]
    receives_events: bool


def _on(places: QuerySet[CareTeamMember], day: dt.date) -> QuerySet[CareTeamMember]:
    return places.filter(start_date__lte=day).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=day)
    )


def _team_places(at: Moment) -> QuerySet[Any]:
    consent = Consent.objects.filter(patient=OuterRef("patient_id"), withdrawn_at__isnull=True)
    return _on(CareTeamMember.objects.all(), at.today).filter(
        Q(role=CareRole.PRIMARY_PHYSICIAN) | Exists(consent)
    )


def _break_glass(at: Moment) -> QuerySet[Any]:
    return BreakGlassGrant.objects.filter(expires_at__gt=at.now)


GRANTS: tuple[Grant, ...] = (
    Grant("care_team", _team_places, receives_events=True),
    Grant("break_glass", _break_glass, receives_events=False),
)


def patient_rule(user_id: int, patient: str, at: Moment) -> Q:
    """The rule as a condition on a query whose field `patient` holds a patient's id: the
    person `user_id` may see that patient at `at`. Callers check that the person is signed
    in and active."""
    return Q(
        *(
            Exists(grant.rows(at).filter(user_id=user_id, patient_id=OuterRef(patient)))
            for grant in GRANTS
        ),
        _connector=Q.OR,
    )


def patient_audience(patient_id: int, at: Moment) -> list[QuerySet[Any]]:
    """Who receives the live events of the patient's threads: per grant that receives
    events, the ids (`user_id`) of its holders who are active, at `at`."""
    return [
        grant.rows(at).filter(patient_id=patient_id, user__is_active=True).values("user_id")
        for grant in GRANTS
        if grant.receives_events
    ]


@cache
def patient_audience_sql() -> SqlTemplate:
    """`patient_audience` as one compiled statement answering the user ids, sorted; its
    slots are `PATIENT` (put an SQL expression there with `SqlTemplate.put`), `TODAY` and
    `NOW`. It runs inside every post."""
    at = Moment(today=TODAY.sentinel, now=NOW.sentinel)
    parts = [
        SqlTemplate.of_queryset(q.order_by(), [PATIENT, TODAY, NOW])
        for q in patient_audience(PATIENT.sentinel, at)
    ]
    union = " UNION ".join(f"({p.sql})" for p in parts)
    return SqlTemplate(
        f"SELECT DISTINCT kz_a.user_id FROM ({union}) kz_a ORDER BY 1",
        tuple(p for part in parts for p in part.params),
    )


def active_places(user: Any, *, on: dt.date | None = None) -> QuerySet[CareTeamMember]:
    """The user's care-team places that are active today (or on the date `on`)."""
    return _on(CareTeamMember.objects.filter(user=user), on or timezone.localdate())


def active_team(patient: Patient | int) -> QuerySet[CareTeamMember]:
    """The patient's care-team places that are active today."""
    return _on(CareTeamMember.objects.filter(patient=patient), timezone.localdate())


def patients_visible_to(user: Any) -> QuerySet[Patient]:
    """Every patient the user may see. Every patient-scoped queryset starts here."""
    if not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    return Patient.objects.filter(patient_rule(user.pk, "pk", Moment.current()))


def access_patient(user: Any, patient_id: Any, *, for_write: bool = False) -> Patient:
    """The patient if the user may see it (or change it, with `for_write`), else `NotFound`.

    Reading and writing have the same rule today; `for_write` marks the call sites that
    change data so a stricter write rule has one place to go.
    """
    try:
        pk = int(patient_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if not 0 < pk < 2**63:
        raise NotFound
    patient = patients_visible_to(user).filter(pk=pk).first()
    if patient is None:
        raise NotFound
    return patient


def can_see_patient(user: Any, patient: Patient | int) -> bool:
    pk = patient.pk if isinstance(patient, Patient) else patient
    return patients_visible_to(user).filter(pk=pk).exists()
