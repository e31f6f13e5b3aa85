"""The access gate: the one place that decides who may see or change a patient.

A user sees and edits a patient while they hold an active place on the patient's care team
and the patient's consent to share with the team is on record. The primary physician, who
records that consent, sees the patient without it. Someone outside the team may open a
time-limited emergency grant (break glass, `patients.services.break_glass_open`).

Nobody else sees the patient: staff of the same organization who are not on the team
included. "Missing" and "not yours" give the same `NotFound`, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from config.api import NotFound
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Consent, Patient


def _active_on(places: QuerySet[CareTeamMember], day: Any = None) -> QuerySet[CareTeamMember]:
    """The places among `places` that are active on `day` (today when not given)."""
    day = day or timezone.localdate()
    return places.filter(start_date__lte=day).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=day)
    )


def active_places(user: Any, *, on: Any = None) -> QuerySet[CareTeamMember]:
    """The user's care-team places that are active today (or on the date `on`)."""
    return _active_on(CareTeamMember.objects.filter(user=user), on)


def active_team(patient: Patient | int) -> QuerySet[CareTeamMember]:
    """The patient's care-team places that are active today."""
    return _active_on(CareTeamMember.objects.filter(patient=patient))


def patients_visible_to(user: Any) -> QuerySet[Patient]:
    """Every patient the user may see. Every patient-scoped queryset starts here."""
    if not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    places = active_places(user).filter(patient=OuterRef("pk"))
    consent = Consent.objects.filter(patient=OuterRef("pk"), withdrawn_at__isnull=True)
    primary = places.filter(role=CareRole.PRIMARY_PHYSICIAN)
    grant = BreakGlassGrant.objects.filter(
        patient=OuterRef("pk"), user=user, expires_at__gt=timezone.now()
    )
    return Patient.objects.filter(
        (Exists(places) & Exists(consent)) | Exists(primary) | Exists(grant)
    )


def access_patient(user: Any, patient_id: Any, *, for_write: bool = False) -> Patient:
    """The patient if the user may see it (or change it, with `for_write`), else `NotFound`.

    Reading and writing have the same rule today; `for_write` marks the call sites that
    change data so a stricter write rule has one place to go.
    """
    try:
        pk = int(patient_id)
    except (TypeError, ValueError):
        raise NotFound from None
    patient = patients_visible_to(user).filter(pk=pk).first()
    if patient is None:
        raise NotFound
    return patient


def can_see_patient(user: Any, patient: Patient | int) -> bool:
    pk = patient.pk if isinstance(patient, Patient) else patient
    return patients_visible_to(user).filter(pk=pk).exists()


@cache
def _access_sql_template() -> str:
    """`patients_visible_to`'s rule for one patient as SQL; PATIENT stands for its id."""
    # The same three arms as `patients_visible_to`: an active place with consent on record,
    # an active primary-physician place, or an unexpired break-glass grant. A place or grant
    # row names an existing patient (foreign key), so the patient table is not read.
    template = (
        "(EXISTS (SELECT 1 FROM PLACE kz_place"
        " WHERE kz_place.user_id = %s AND kz_place.patient_id = PATIENT"
        " AND kz_place.start_date <= %s"
        " AND (kz_place.end_date IS NULL OR kz_place.end_date >= %s)"
        " AND (kz_place.role = %s OR EXISTS (SELECT 1 FROM CONSENT kz_consent"
        " WHERE kz_consent.patient_id = kz_place.patient_id"
        " AND kz_consent.withdrawn_at IS NULL)))"
        " OR EXISTS (SELECT 1 FROM GRANT kz_grant"
        " WHERE kz_grant.user_id = %s AND kz_grant.patient_id = PATIENT"
        " AND kz_grant.expires_at > %s))"
    )
    quote = connection.ops.quote_name
    return (
        template.replace("PLACE", quote(CareTeamMember._meta.db_table))
        .replace("CONSENT", quote(Consent._meta.db_table))
        .replace("GRANT", quote(BreakGlassGrant._meta.db_table))
    )


def patient_access_sql(
    user: Any, patient_sql: str, patient_params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """`patients_visible_to`'s rule as one SQL condition and its parameters, for the patient
    whose id is the SQL expression `patient_sql` (a quoted column, or "%s" with the id in
    `patient_params`).

    For the hot paths, where composing `patients_visible_to` in the ORM costs more than
    running it (every post and every history read of a patient's thread). The rule is written
    twice, here and in `patients_visible_to`; tests/patients/test_access_fast.py holds them
    equal case by case. Call it only for an authenticated, active user.
    """
    ops = connection.ops
    # Adapted exactly as the ORM adapts them, so aware datetimes compare right on SQLite too.
    today = ops.adapt_datefield_value(timezone.localdate())
    now = ops.adapt_datetimefield_value(timezone.now())
    sql = _access_sql_template().replace("PATIENT", patient_sql)
    role = CareRole.PRIMARY_PHYSICIAN.value
    params = [user.pk, *patient_params, today, today, role, user.pk, *patient_params, now]
    return sql, params


def can_access_patient_id(user: Any, patient_id: int) -> bool:
    """Whether the user may see (and change) patient `patient_id`, in one plain query: the
    same answer as `patients_visible_to(user).filter(pk=patient_id).exists()`, cheaper."""
    if not user.is_authenticated or not user.is_active:
        return False
    sql, params = patient_access_sql(user, "%s", [int(patient_id)])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        row = cursor.fetchone()
    return bool(row and row[0])
