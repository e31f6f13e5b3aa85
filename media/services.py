"""Every change of state in media: upload, attach to a message, make derivatives, sweep.

A photo's row and its file exist together or not at all: the file is written first and
removed again if the row is not committed; a derivative's files are written first and
removed again if the row does not take them; a swept row is deleted first and its files
after the commit. The original bytes are never written: only `media.images.sanitise`'s
clean JPEG is.

`attachment_upload` is called outside any transaction (it commits the row itself: a file
must never outlive a row that a caller's rollback would undo).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError
from media import files, images, signals
from media.models import (
    BODY_SITE_OTHER_MAX_LENGTH,
    CAPTION_MAX_LENGTH,
    MAX_PER_MESSAGE,
    Attachment,
    BodySite,
    State,
)
from patients.access import Capability, access_patient
from teams.models import User

logger = logging.getLogger(__name__)

UNATTACHED_LIFETIME = dt.timedelta(hours=24)


@dataclass(frozen=True)
class UploadResult:
    attachment: Attachment
    created: bool  # False: a retry of an earlier upload, returned unchanged


def _field_error(field: str, message: str, summary: str | None = None) -> DomainError:
    return DomainError(summary or message, fields={field: [message]})


def _client_id(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise _field_error("client_id", _("client_id はUUIDで指定してください。")) from None


def _text(value: Any, field: str, limit: int) -> str:
    text = str(value or "").strip()
    if len(text) > limit:
        raise _field_error(field, _("%(n)s文字以内で入力してください。") % {"n": limit})
    if "\x00" in text:
        raise _field_error(field, _("使用できない文字が含まれています。"))
    return text


def _body_site(site: Any, other: Any) -> tuple[str, str]:
    value = str(site or "")
    if value and value not in BodySite.values:
        raise _field_error("body_site", _("選択肢にない値です。"))
    text = _text(other, "body_site_other", BODY_SITE_OTHER_MAX_LENGTH)
    if value == BodySite.OTHER and not text:
        raise _field_error("body_site_other", _("「その他」の部位を入力してください。"))
    return value, text if value == BodySite.OTHER else ""


def _earlier_upload(user: User, client_id: uuid.UUID, patient_id: int) -> UploadResult | None:
    earlier = Attachment.objects.filter(uploaded_by=user, client_id=client_id).first()
    if earlier is None:
        return None
    if earlier.patient_id != patient_id:
        raise _field_error("client_id", _("この client_id は別の患者の写真で使われています。"))
    return UploadResult(earlier, created=False)


def _read_upload(upload: Any) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > images.MAX_BYTES:
        # Refused before reading: 25 MB is as far as we go.
        raise _field_error("file", _("ファイルが大きすぎます(25MBまで)。"))
    upload.seek(0)
    data: bytes = upload.read(images.MAX_BYTES + 1)
    return data


def attachment_upload(
    user: User,
    *,
    patient_id: Any,
    client_id: Any,
    upload: Any,
    body_site: Any = "",
    body_site_other: Any = "",
    caption: Any = "",
) -> UploadResult:
    """Store a photo for a patient the user may post about, or return the earlier upload of
    this `client_id` (a retry). `upload` is a file object (Django's `UploadedFile`).

    Raises `DomainError` with a field error on `file` for anything but a sound JPEG, PNG,
    WebP or HEIC photo within the limits (`media.images`).
    """
    patient = access_patient(user, patient_id, capability=Capability.POST)
    cid = _client_id(client_id)
    earlier = _earlier_upload(user, cid, patient.pk)
    if earlier is not None:
        return earlier
    site, site_other = _body_site(body_site, body_site_other)
    text = _text(caption, "caption", CAPTION_MAX_LENGTH)
    try:
        clean = images.sanitise(_read_upload(upload))
    except images.BadImage as exc:
        raise _field_error("file", exc.message, _("写真を受け付けられません。")) from None
    now = timezone.now()
    attachment = Attachment(
        id=uuid.uuid4(),
        patient=patient,
        uploaded_by=user,
        client_id=cid,
        source_format=clean.source_format,
        width=clean.width,
        height=clean.height,
        byte_size=len(clean.data),
        taken_at=clean.taken_at or now,
        taken_at_source="exif" if clean.taken_at else "upload",
        uploaded_at=now,
        body_site=site,
        body_site_other=site_other,
        caption=text,
    )
    attachment.file = files.save(files.name_for(attachment.pk, "full"), clean.data)
    try:
        with transaction.atomic():
            attachment.save(force_insert=True)
            audit_record(user, AuditAction.CREATE, patient=patient, obj=attachment, detail="upload")
            transaction.on_commit(
                lambda: signals.attachment_stored.send(
                    sender=Attachment, attachment_id=attachment.pk
                ),
                robust=True,
            )
    except IntegrityError:
        files.delete_quietly(attachment.file)
        # The same upload, sent twice at once: the other one's row stands.
        earlier = _earlier_upload(user, cid, patient.pk)
        if earlier is None:
            raise
        return earlier
    except BaseException:
        files.delete_quietly(attachment.file)
        raise
    return UploadResult(attachment, created=True)


# --- attaching to a message (called by messaging.services, inside the post) --------------


def _photo_ids(ids: Any) -> list[uuid.UUID]:
    if ids is None:
        return []
    if not isinstance(ids, list | tuple):
        raise _field_error("attachments", _("写真のIDの一覧で指定してください。"))
    if len(ids) > MAX_PER_MESSAGE:
        raise _field_error(
            "attachments",
            _("写真は1件の投稿に%(n)s枚までです。") % {"n": MAX_PER_MESSAGE},
        )
    out: list[uuid.UUID] = []
    for value in ids:
        try:
            pk = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except (TypeError, ValueError, AttributeError):
            raise _field_error("attachments", _("写真のIDが不正です。")) from None
        if pk in out:
            raise _field_error("attachments", _("同じ写真が2回指定されています。"))
        out.append(pk)
    return out


def _refuse_rows(
    user: User, wanted: Sequence[uuid.UUID], rows: dict[uuid.UUID, Attachment], patient_id: int
) -> None:
    for pk in wanted:
        row = rows.get(pk)
        # Another person's upload, or another patient's, is "not found": ids learn nothing.
        if row is None or row.uploaded_by_id != user.pk or row.patient_id != patient_id:
            raise _field_error(
                "attachments",
                _("写真 %(id)s が見つかりません。アップロードし直してください。") % {"id": pk},
            )
        if row.message_id is not None:
            raise _field_error(
                "attachments", _("写真 %(id)s はすでに別の投稿に添付されています。") % {"id": pk}
            )
        if row.state == State.FAILED:
            raise _field_error(
                "attachments",
                _("写真 %(id)s の処理に失敗しました。撮り直してください。") % {"id": pk},
            )


def check_attachable(user: User, ids: Any, *, patient_id: int | None) -> list[uuid.UUID]:
    """The photo ids of a post, checked: at most ten, each an upload of `user` for this
    patient, not attached yet and not failed. `DomainError` (field `attachments`) otherwise.
    A read only: `attach` checks again under the rows' locks."""
    wanted = _photo_ids(ids)
    if not wanted:
        return []
    if patient_id is None:
        raise _field_error("attachments", _("写真は患者のスレッドにだけ添付できます。"))
    rows = {a.pk: a for a in Attachment.objects.filter(pk__in=wanted)}
    _refuse_rows(user, wanted, rows, patient_id)
    return wanted


def attach(
    user: User, *, message_id: int, patient_id: int, ids: Sequence[uuid.UUID]
) -> list[Attachment]:
    """Attach checked photos (`check_attachable`) to a new message, in its order.

    Call inside the post's transaction: the rows are locked, checked again (a photo attached
    by a concurrent post since the check is refused, and the post rolls back), and updated.
    Returns them as they now are: a derivative finished meanwhile shows as ready.
    """
    if not ids:
        return []
    rows = {
        a.pk: a for a in Attachment.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    _refuse_rows(user, ids, rows, patient_id)
    now = timezone.now()
    for position, pk in enumerate(ids):
        Attachment.objects.filter(pk=pk).update(
            message_id=message_id, position=position, attached_at=now
        )
    return list(Attachment.objects.filter(pk__in=ids).order_by("position"))


# --- derivatives (the `media` queue) ------------------------------------------------------


def make_derivatives(attachment_id: Any) -> bool:
    """Make the thumbnail and the display size of a stored photo. Idempotent: a photo that is
    ready (or gone) is left alone, and of two workers racing, one row update wins and the
    other removes the files it wrote. Returns whether this call made them."""
    row = Attachment.objects.filter(pk=attachment_id, state=State.PROCESSING).first()
    if row is None:
        return False
    try:
        stored = files.read(row.file)
        thumb = images.derivative(stored, images.THUMB_SIDE)
        display = images.derivative(stored, images.DISPLAY_SIDE)
    except Exception:
        logger.exception("derivatives of photo %s failed", row.pk)
        Attachment.objects.filter(pk=row.pk, state=State.PROCESSING).update(state=State.FAILED)
        return False
    written: list[str] = []
    try:
        written.append(files.save(files.name_for(row.pk, "thumb"), thumb))
        written.append(files.save(files.name_for(row.pk, "display"), display))
        with transaction.atomic():
            # Locked: a post attaching this photo now either committed before (its message
            # id is read here) or waits for this commit (and reads the photo as ready).
            found = list(
                Attachment.objects.select_for_update()
                .filter(pk=row.pk, state=State.PROCESSING)
                .values_list("message_id", flat=True)
            )
            if found:
                Attachment.objects.filter(pk=row.pk).update(
                    state=State.READY, thumb_file=written[0], display_file=written[1]
                )
                message_id = found[0]
                transaction.on_commit(
                    lambda: signals.attachment_ready.send(
                        sender=Attachment, attachment_id=row.pk, message_id=message_id
                    ),
                    robust=True,
                )
        if not found:  # another worker was first
            files.delete_quietly(*written)
            return False
    except BaseException:
        files.delete_quietly(*written)
        raise
    return True


# --- the sweep (beat) ----------------------------------------------------------------------

STUCK_AFTER = dt.timedelta(minutes=2)


def stuck_photos() -> list[uuid.UUID]:
    """Photos still waiting for their derivatives long after their upload: their task was lost
    (a worker restarted, the broker was down). Queuing them again is safe: it is idempotent."""
    cutoff = timezone.now() - STUCK_AFTER
    return list(
        Attachment.objects.filter(state=State.PROCESSING, uploaded_at__lt=cutoff)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:100]
    )


def delete_unattached(*, older_than: dt.timedelta = UNATTACHED_LIFETIME) -> int:
    """Delete uploads never attached to a message within `older_than`: rows first, their
    files after the commit. Returns how many. Safe beside a post attaching one of them: a
    row locked by the post is skipped, and a row attached meanwhile is not deleted."""
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        stale = list(
            Attachment.objects.select_for_update(skip_locked=True).filter(
                message__isnull=True, uploaded_at__lt=cutoff
            )[:500]
        )
        if not stale:
            return 0
        names = [n for a in stale for n in (a.file, a.thumb_file, a.display_file) if n]
        Attachment.objects.filter(pk__in=[a.pk for a in stale], message__isnull=True).delete()
        transaction.on_commit(lambda: files.delete_quietly(*names))
    return len(stale)
