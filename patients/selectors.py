"""Reads about patients, already scoped by the access gate, and audited (`audit.reads`).

Every function that returns one patient's data first passes `patients.access.access_patient`
(missing and not-visible both raise `NotFound`) and writes one audit `read` row. The patient
list audits the rows taken from it: one `list` row per patient actually shown (the page, not
the whole list).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.reads import AuditedRows, audit_patients
from audit.services import audit_record
from config.errors import DomainError
from patients.access import (
    Capability,
    access_patient,
    active_places,
    active_team,
    patients_visible_to,
)
from patients.models import (
    RECORD_KINDS,
    CareTeamMember,
    CareWish,
    Consent,
    Disclosure,
    EscalationGrant,
    Patient,
    PatientStatus,
    RecordChange,
    RecordItem,
    WishKind,
)
from teams.identity import AnyUser
from teams.models import Organization, User


def patient_list(
    user: User, *, status: str | None = None, q: str | None = None
) -> AuditedRows[Patient]:
    """The patients the user may see, with `my_role` (their role on the team, or None); the
    patients taken from it (a page) are audited as listed."""
    my_role = active_places(user).filter(patient=OuterRef("pk")).order_by("role").values("role")[:1]
    patients = patients_visible_to(user).annotate(my_role=Subquery(my_role))
    if status:
        if status not in PatientStatus.values:
            raise DomainError(
                _("入力内容を確認してください。"),
                fields={"status": [_("状態が正しくありません。")]},
            )
        patients = patients.filter(status=status)
    if q and q.strip():
        term = q.strip()
        patients = patients.filter(Q(name__icontains=term) | Q(name_kana__icontains=term))
    return AuditedRows(
        patients.order_by("name_kana", "id"),
        lambda rows: audit_patients(
            user, AuditAction.LIST, patient_ids=[p.pk for p in rows], object_type=PATIENT
        ),
    )


PATIENT = "patients.patient"  # the object type of the audit rows of patient reads


def patient_get(user: AnyUser, patient_id: Any) -> Patient:
    """One patient the user may see; an audited read."""
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, obj=patient)
    return patient


def care_team_list(user: AnyUser, patient_id: Any) -> QuerySet[CareTeamMember]:
    """The patient's care-team places active today."""
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.careteammember")
    return active_team(patient).select_related("user", "organization").order_by("role", "id")


def record_items(user: AnyUser, patient_id: Any, *, kind: str) -> QuerySet[RecordItem]:
    """One list of the shared record ("problems", "medications", ...)."""
    model = record_model(kind)
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, object_type=model._meta.label_lower)
    items: QuerySet[RecordItem] = model._default_manager.filter(patient=patient)
    return items.select_related("updated_by").order_by("id")


def _current_wishes(patient: Patient) -> dict[str, CareWish | None]:
    return {
        kind: CareWish.objects.filter(patient=patient, kind=kind)
        .select_related("hospital", "recorded_by")
        .order_by("-recorded_at", "-id")
        .first()
        for kind in WishKind.values
    }


def _wish_history(patient: Patient, kind: str) -> QuerySet[CareWish]:
    if kind not in WishKind.values:
        raise DomainError(
            _("入力内容を確認してください。"), fields={"kind": [_("種類が正しくありません。")]}
        )
    return (
        CareWish.objects.filter(patient=patient, kind=kind)
        .select_related("hospital", "recorded_by")
        .order_by("-recorded_at", "-id")
    )


def current_wishes(user: AnyUser, patient_id: Any) -> dict[str, CareWish | None]:
    """The wish in force per kind: {"green": CareWish | None, "yellow": CareWish | None}."""
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.carewish")
    return _current_wishes(patient)


def wish_history(user: AnyUser, patient_id: Any, *, kind: str) -> QuerySet[CareWish]:
    """Every version of one kind of wish, newest first."""
    patient = access_patient(user, patient_id)
    history = _wish_history(patient, kind)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.carewish")
    return history


def wishes_overview(user: AnyUser, patient_id: Any) -> dict[str, Any]:
    """Current wishes and the history of both kinds, for one page: one gate check, one audit row.

    {"current": {kind: CareWish | None}, "history": {kind: [CareWish, ...]}}
    """
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.carewish")
    history: dict[str, list[CareWish]] = {kind: [] for kind in WishKind.values}
    for wish in _wish_history_all(patient):
        history[wish.kind].append(wish)
    current = {kind: (rows[0] if rows else None) for kind, rows in history.items()}
    return {"current": current, "history": history}


def _wish_history_all(patient: Patient) -> QuerySet[CareWish]:
    return (
        CareWish.objects.filter(patient=patient)
        .select_related("hospital", "recorded_by")
        .order_by("-recorded_at", "-id")
    )


def record_history(user: AnyUser, patient_id: Any) -> QuerySet[RecordChange]:
    """Every change to the shared record, newest first."""
    patient = access_patient(user, patient_id)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.recordchange")
    return (
        RecordChange.objects.filter(patient=patient)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")
    )


def consent_list(user: AnyUser, patient_id: Any) -> QuerySet[Consent]:
    """Every consent on record for the patient, newest first (the active one has no
    withdrawal), with the organizations each covers. `Capability.VIEW_CONSENT`: the team,
    and those who build it without reading the record."""
    patient = access_patient(user, patient_id, capability=Capability.VIEW_CONSENT)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.consent")
    return (
        Consent.objects.filter(patient=patient)
        .select_related("recorded_by", "withdrawn_by")
        .prefetch_related(
            Prefetch("organizations", queryset=Organization.objects.order_by("name_kana", "pk"))
        )
        .order_by("-recorded_at", "-id")
    )


def consent_candidates(patient: Patient) -> QuerySet[Organization]:
    """The organizations a consent of the patient may cover: the managing organization and the
    organizations of its networks. Directory data, not the patient's: no audit row."""
    managing = patient.managing_organization_id
    return (
        Organization.objects.filter(Q(pk=managing) | Q(networks__organizations=managing))
        .distinct()
        .order_by("name_kana", "name", "pk")
    )


def disclosure_list(user: AnyUser, patient_id: Any) -> QuerySet[Disclosure]:
    """The patient's disclosure report (第三者提供の記録), newest first: when, to which
    organization, what, under which consent, caused by whom. `Capability.VIEW_DISCLOSURES`."""
    patient = access_patient(user, patient_id, capability=Capability.VIEW_DISCLOSURES)
    audit_record(user, AuditAction.READ, patient=patient, object_type="patients.disclosure")
    return (
        Disclosure.objects.filter(patient=patient)
        .select_related("organization", "by", "consent")
        .order_by("-at", "-id")
    )


def record_model(kind: str) -> type[RecordItem]:
    """The model of a record kind ("problems", ...), or a field error for an unknown kind."""
    model = RECORD_KINDS.get(kind)
    if model is None:
        raise DomainError(
            _("入力内容を確認してください。"),
            fields={"kind": [_("記録の種類が正しくありません。")]},
        )
    return model


def escalation_grants(user: AnyUser, patient_id: Any) -> list[EscalationGrant]:
    """Who reads the patient through an urgent request that reached them (on-call physician,
    hospital contact), in force now or ended within the last day: listed on the patient
    page and the hand-off card. For someone who may see the patient."""
    patient = access_patient(user, patient_id)
    since = timezone.now() - dt.timedelta(days=1)
    return list(
        EscalationGrant.objects.filter(patient=patient)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=since))
        .select_related("user")
        .order_by("-granted_at")
    )
