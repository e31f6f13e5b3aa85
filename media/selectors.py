"""Reads of photos, through the gate, and audited (`audit.reads`).

A download writes one `read` row naming the photo; the gallery (a patient's photos, or one
body site's: the wound timeline) returns `AuditedRows`, one `list` row for the page taken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.models import AuditAction
from audit.reads import AuditedRows, audit_patients
from audit.services import audit_record
from config.errors import NotFound
from media.access import access_attachment
from media.models import Attachment, BodySite
from patients.models import Patient
from teams.identity import AnyUser

PHOTO = "media.attachment"


def attachment_get(user: AnyUser, attachment_id: Any) -> Attachment:
    """One photo's record, if the user may see it; an audited read."""
    row = access_attachment(user, attachment_id)
    audit_record(user, AuditAction.READ, patient=row.patient_id, obj=row, detail="record")
    return row


def attachment_file(user: AnyUser, attachment_id: Any, variant: str) -> tuple[Attachment, str]:
    """The photo and the storage name of its `variant` ("full", "display", "thumb"), if the
    user may see it and that file exists yet; an audited read (one row per download)."""
    row = access_attachment(user, attachment_id)
    name = {"full": row.file, "display": row.display_file, "thumb": row.thumb_file}.get(variant)
    if not name:
        raise NotFound
    audit_record(user, AuditAction.READ, patient=row.patient_id, obj=row, detail=variant)
    return row, name


def _photos(patient: Patient, body_site: str | None) -> QuerySet[Attachment]:
    rows = Attachment.objects.filter(
        patient=patient, message__isnull=False, message__deleted_at__isnull=True
    )
    if body_site:
        rows = rows.filter(body_site=body_site)
    return rows


def patient_photos(
    user: AnyUser, patient: Patient, *, body_site: str | None = None, oldest_first: bool = False
) -> AuditedRows[Attachment]:
    """The posted photos of a patient the caller passed through `access_patient`: newest
    first (the gallery), or of one body site oldest first (the wound timeline)."""
    order = ("taken_at", "uploaded_at") if oldest_first else ("-taken_at", "-uploaded_at")
    rows = _photos(patient, body_site).order_by(*order)
    return AuditedRows(
        rows,
        lambda taken: audit_patients(
            user, AuditAction.LIST, patient_ids=[a.patient_id for a in taken], object_type=PHOTO
        ),
    )


def attachments_of(message_ids: list[int]) -> dict[int, list[Attachment]]:
    """The photos of these messages, in their order, by message id: one query."""
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return found
    for row in Attachment.objects.filter(message_id__in=message_ids).order_by(
        "message_id", "position"
    ):
        if row.message_id is not None:  # always: filtered on it
            found.setdefault(row.message_id, []).append(row)
    return found


@dataclass(frozen=True)
class PhotoDay:
    day: dt.date
    photos: list[Attachment]


@dataclass(frozen=True)
class PhotoPanel:
    """The patient page's photo section: the newest photos grouped by the day they were taken,
    and the body sites that have photos (each a wound timeline)."""

    patient: Patient
    days: list[PhotoDay]
    sites: list[tuple[str, str, int]]  # value, label, how many photos
    more: bool


PANEL_PHOTOS = 60


def photo_panel(user: AnyUser, patient: Patient) -> PhotoPanel:
    """The newest `PANEL_PHOTOS` photos of a patient the caller may see, by day; audited as a
    list of the patient's photos. Two queries."""
    rows = list(patient_photos(user, patient)[: PANEL_PHOTOS + 1])
    days: list[PhotoDay] = []
    for row in rows[:PANEL_PHOTOS]:
        day = timezone.localtime(row.taken_at).date()
        if not days or days[-1].day != day:
            days.append(PhotoDay(day, []))
        days[-1].photos.append(row)
    counts = (
        _photos(patient, None)
        .exclude(body_site="")
        .values("body_site")
        .annotate(n=Count("pk"))
        .order_by("body_site")
    )
    labels = dict(BodySite.choices)
    sites = [(c["body_site"], str(labels[c["body_site"]]), c["n"]) for c in counts]
    return PhotoPanel(patient, days, sites, len(rows) > PANEL_PHOTOS)
