"""Writing audit rows. Every read and write of patient data calls `audit_record`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models

from audit.context import current_request
from audit.models import AuditAction, AuditEvent

# Who acted, as the audit log sees it. The log sits below the apps (docs/architecture.md), so
# it names Django's user types, not teams.User: a row keeps the actor's id, or none for an
# anonymous or unknown actor.
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


def _row(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient_id: int | None,
    obj: models.Model | None,
    object_type: str,
    detail: str,
) -> AuditEvent:
    ctx = current_request.get()
    return AuditEvent(
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
        action=action,
        patient_id=patient_id,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail[:500],
        ip_address=ctx.ip_address if ctx else None,
        user_agent=ctx.user_agent if ctx else "",
    )


def audit_row(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient_id: int | None,
    object_type: str,
    detail: str = "",
) -> AuditEvent:
    """The row `audit_record` would write, unsaved: for a statement that writes the audit row
    together with the change it records (`messaging.services.message_post`)."""
    return _row(
        actor, action, patient_id=patient_id, obj=None, object_type=object_type, detail=detail
    )


def audit_record(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient: models.Model | int | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    detail: str = "",
) -> AuditEvent:
    patient_id = patient if isinstance(patient, int) or patient is None else patient.pk
    row = _row(
        actor, action, patient_id=patient_id, obj=obj, object_type=object_type, detail=detail
    )
    row.save(force_insert=True)
    return row


def audit_record_many(
    actor: Actor, action: AuditAction | str, *, patient_ids: Iterable[int], object_type: str
) -> None:
    """One row per patient shown, in one query (for list pages)."""
    rows = [
        _row(actor, action, patient_id=pid, obj=None, object_type=object_type, detail="")
        for pid in patient_ids
    ]
    if rows:
        AuditEvent.objects.bulk_create(rows)
