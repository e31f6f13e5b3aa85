"""Reads that only the web pages need: "what changed since my last visit".

A visit is the audit `read` row that `patients.selectors.patient_get` writes when someone
opens a patient's page, so no extra table is needed: the user's previous visit of a patient
is their latest such row. A change is a `RecordChange` (the shared record) or a new
`CareWish` version (green and yellow card) made by someone else after that visit.

Every function here takes patient ids that the caller already got through the gate, and
intersects them with `patients_visible_to` again, so a wrong id can never leak a change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from django.db.models import F, Max, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from audit.models import AuditAction, AuditEvent
from patients.access import patients_visible_to
from patients.models import CareWish, RecordChange, WishKind
from teams.models import User

# The audit object type of a patient page visit (`patient_get` audits the patient itself).
VISIT_OBJECT_TYPE = "patients.patient"

# At most this many changes are listed per patient; the count says how many there are.
MAX_CHANGES_SHOWN = 5

SECTION_LABELS = {
    "problems": _("病名・問題"),
    "medications": _("薬剤"),
    "allergies": _("アレルギー"),
    "devices": _("医療機器"),
    "contacts": _("緊急連絡先"),
}

ACTION_LABELS = {
    "create": _("追加"),
    "update": _("更新"),
    "delete": _("削除"),
}

# Which snapshot field names an item, per record kind.
_TITLE_FIELD = {
    "problems": "name",
    "medications": "name",
    "allergies": "substance",
    "devices": "name",
    "contacts": "name",
}


@dataclass(frozen=True)
class Change:
    """One change shown in "what changed since my last visit"."""

    at: dt.datetime
    section: str  # a record kind, or "wishes"
    section_label: str
    action_label: str
    title: str
    by: User


@dataclass
class PatientChanges:
    last_visit: dt.datetime | None
    changes: list[Change]
    count: int


def _visits(user: User, *, before: dt.datetime | None) -> QuerySet[AuditEvent]:
    visits = AuditEvent.objects.filter(
        actor_id=user.pk, action=AuditAction.READ, object_type=VISIT_OBJECT_TYPE
    )
    if before is not None:
        visits = visits.filter(at__lt=before)
    return visits


def last_visits(
    user: User, patient_ids: Collection[int], *, before: dt.datetime | None = None
) -> dict[int, dt.datetime]:
    """The user's latest visit of each patient (before `before`), in one query."""
    rows = (
        _visits(user, before=before)
        .filter(patient_id__in=list(patient_ids))
        .values("patient_id")
        .annotate(last=Max("at"))
        .values_list("patient_id", "last")
    )
    return {pid: last for pid, last in rows if pid is not None}


def changes_since_last_visit(
    user: User, patient_ids: Collection[int], *, before: dt.datetime | None = None
) -> dict[int, PatientChanges]:
    """Per patient: the user's previous visit and the changes others made since, newest first.

    Three queries whatever the number of patients. A patient the user never opened has
    `last_visit=None` and no changes listed (everything would be new).
    """
    ids = list(patient_ids)
    result = {pid: PatientChanges(last_visit=None, changes=[], count=0) for pid in ids}
    if not ids:
        return result
    for pid, last in last_visits(user, ids, before=before).items():
        result[pid].last_visit = last
    visible = patients_visible_to(user).filter(pk__in=ids).values("pk")
    last_visit = Subquery(
        _visits(user, before=before)
        .filter(patient_id=OuterRef("patient_id"))
        .order_by("-at")
        .values("at")[:1]
    )
    record_changes = (
        RecordChange.objects.filter(patient_id__in=visible)
        .exclude(changed_by_id=user.pk)
        .annotate(last_visit=last_visit)
        .filter(changed_at__gt=F("last_visit"))
        .select_related("changed_by")
        .order_by("-changed_at", "-id")
    )
    wishes = (
        CareWish.objects.filter(patient_id__in=visible)
        .exclude(recorded_by_id=user.pk)
        .annotate(last_visit=last_visit)
        .filter(recorded_at__gt=F("last_visit"))
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")
    )
    changes: list[tuple[int, Change]] = []
    for rc in record_changes:
        snapshot = rc.snapshot if isinstance(rc.snapshot, dict) else {}
        title = str(snapshot.get(_TITLE_FIELD.get(rc.item_type, "name"), "") or "")
        changes.append(
            (
                rc.patient_id,
                Change(
                    at=rc.changed_at,
                    section=rc.item_type,
                    section_label=str(SECTION_LABELS.get(rc.item_type, rc.item_type)),
                    action_label=str(ACTION_LABELS.get(rc.action, rc.action)),
                    title=title,
                    by=rc.changed_by,
                ),
            )
        )
    for wish in wishes:
        changes.append(
            (
                wish.patient_id,
                Change(
                    at=wish.recorded_at,
                    section="wishes",
                    section_label=str(WishKind(wish.kind).label),
                    action_label=str(ACTION_LABELS["update"]),
                    title=wish.preference,
                    by=wish.recorded_by,
                ),
            )
        )
    changes.sort(key=lambda pair: pair[1].at, reverse=True)
    for pid, change in changes:
        entry = result[pid]
        entry.count += 1
        if len(entry.changes) < MAX_CHANGES_SHOWN:
            entry.changes.append(change)
    return result
