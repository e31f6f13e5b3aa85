"""Who may see a photo: the patient gate (`patients.access`), and one rule of media's own.

A photo attached to a message is seen by whoever may read the patient, while its message
stands (a deleted message's photos are gone with its text). A photo not attached yet is seen
by its uploader only (the preview on their own screen). Anyone else, and any id that is not
a photo, gets the same `NotFound`; a team member whom the consent leaves out gets the gate's
`Forbidden` with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from config.errors import NotFound
from media.models import Attachment
from patients.access import access_patient
from teams.identity import AnyUser


def attachment_pk(value: Any) -> uuid.UUID:
    """An attachment id from a URL or a body; garbage is `NotFound`, like a missing photo."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound from None


def access_attachment(user: AnyUser, attachment_id: Any) -> Attachment:
    """The photo if `user` may see it, else `NotFound` (or the gate's `Forbidden`)."""
    pk = attachment_pk(attachment_id)
    if not user.is_authenticated:
        raise NotFound
    row = Attachment.objects.select_related("message").filter(pk=pk).first()
    if row is None:
        raise NotFound
    access_patient(user, row.patient_id)
    if row.message is None and row.uploaded_by_id != user.pk:
        raise NotFound
    if row.message is not None and row.message.deleted_at is not None:
        raise NotFound
    return row
