"""Where the photos' files live: the `attachments` storage (docs/media.md).

The local file system under `MEDIA_ROOT` by default; S3-compatible object storage through
django-storages when `MEDIA_STORAGE=s3` (settings only, `config/settings.py`). Names are made
here from the attachment's id and a fresh token, so two workers making the same derivative
never write over each other's file, and a name never says whose photo it is.
"""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

ALIAS = "attachments"


def storage() -> Storage:
    return storages[ALIAS]


def name_for(attachment_id: uuid.UUID, kind: str) -> str:
    """A new storage name for one file of an attachment ("full", "display", "thumb")."""
    token = uuid.uuid4().hex[:12]
    return f"photos/{attachment_id.hex[:2]}/{attachment_id.hex}/{kind}-{token}.jpg"


def save(name: str, data: bytes) -> str:
    """Write `data` under `name`; returns the name the storage used."""
    return storage().save(name, ContentFile(data))


def read(name: str) -> bytes:
    with storage().open(name, "rb") as f:
        data: bytes = f.read()
    return data


def delete_quietly(*names: str) -> None:
    """Remove files that no row names (any more); a name that is already gone is fine."""
    for name in names:
        if name:
            storage().delete(name)


def local_path(name: str) -> str | None:
    """The file's path on this machine's disk, or None when the storage is not local."""
    try:
        return str(storage().path(name))
    except NotImplementedError:
        return None
