"""The access gate: the one place that decides who may see or change a patient.

A user sees and edits a patient while they hold an active place on the patient's care team
and the patient's consent to share with the team is on record. The primary physician, who
records that consent, sees the patient without it. Someone outside the team may open a
time-limited emergency grant (break glass, `patients.services.break_glass_open`).

Nobody else sees the patient: staff of the same organization who are not on the team
included. "Missing" and "not yours" give the same `NotFound`, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from config.api import NotFound
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Consent, Patient


def active_places(user: Any, *, on: Any = None) -> QuerySet[CareTeamMember]:
    """The user's care-team places that are active today (or on the date `on`)."""
    today = on or timezone.localdate()
    return CareTeamMember.objects.filter(user=user, start_date__lte=today).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today)
    )


def active_team(patient: Patient | int) -> QuerySet[CareTeamMember]:
    """The patient's care-team places that are active today."""
    today = timezone.localdate()
    return CareTeamMember.objects.filter(patient=patient, start_date__lte=today).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today)
    )


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
