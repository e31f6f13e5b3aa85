"""The wire shape of a photo: in the API's answers, in a message's `attachments`, in events.

`attachment_data` is the plain function (it renders every photo of a history page);
`AttachmentOutputSerializer` describes the same shape for the schema, and a test holds the two
equal. Download URLs are the protected route (`media.api.AttachmentDownloadView`): the full
photo once stored, the thumbnail and display size once the worker has made them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config import fields as strict
from media.models import (
    BODY_SITE_OTHER_MAX_LENGTH,
    CAPTION_MAX_LENGTH,
    Attachment,
    BodySite,
    State,
)

VARIANTS = ("thumb", "display", "full")


def _when(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def download_url(attachment: Attachment, variant: str) -> str:
    return reverse("media:attachment-download", args=[attachment.pk, variant])


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    ready = attachment.state == State.READY
    return {
        "id": str(attachment.pk),
        "state": str(attachment.state),
        "width": attachment.width,
        "height": attachment.height,
        "content_type": attachment.content_type,
        "body_site": attachment.body_site or None,
        "body_site_other": attachment.body_site_other,
        "body_site_label": attachment.body_site_text,
        "caption": attachment.caption,
        "taken_at": _when(attachment.taken_at),
        "taken_at_source": attachment.taken_at_source,
        "uploaded_at": _when(attachment.uploaded_at),
        "message": attachment.message_id,
        "urls": {
            "full": download_url(attachment, "full"),
            "display": download_url(attachment, "display") if ready else None,
            "thumb": download_url(attachment, "thumb") if ready else None,
        },
    }


class AttachmentUrlsSerializer(serializers.Serializer[Any]):
    full = serializers.CharField()
    display = serializers.CharField(allow_null=True)
    thumb = serializers.CharField(allow_null=True)


class AttachmentOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=State.choices)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
    body_site = serializers.ChoiceField(choices=BodySite.choices, allow_null=True)
    body_site_other = serializers.CharField()
    body_site_label = serializers.CharField()
    caption = serializers.CharField()
    taken_at = serializers.DateTimeField()
    taken_at_source = serializers.ChoiceField(choices=[("exif", "exif"), ("upload", "upload")])
    uploaded_at = serializers.DateTimeField()
    message = serializers.IntegerField(allow_null=True)
    urls = AttachmentUrlsSerializer()


class AttachmentUploadInputSerializer(serializers.Serializer[Any]):
    """The multipart form of an upload. The file's bytes are judged by `media.images`, never by
    its name or declared type."""

    file = serializers.FileField(
        allow_empty_file=True,  # a zero-byte file gets media.images' own clear reason
        error_messages={"required": _("写真のファイルを添付してください。")},
    )
    client_id = strict.UUIDField(
        error_messages={"invalid": _("client_id はUUIDで指定してください。")}
    )
    patient = strict.IntegerField(min_value=1)
    body_site = serializers.ChoiceField(choices=BodySite.choices, required=False, allow_blank=True)
    body_site_other = strict.CharField(
        max_length=BODY_SITE_OTHER_MAX_LENGTH, required=False, allow_blank=True
    )
    caption = strict.CharField(max_length=CAPTION_MAX_LENGTH, required=False, allow_blank=True)


class PhotoListQuerySerializer(serializers.Serializer[Any]):
    body_site = serializers.ChoiceField(choices=BodySite.choices, required=False)
