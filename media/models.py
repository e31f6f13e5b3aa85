"""Photo attachments: one row per sanitised photo, its files in storage.

An attachment is uploaded for one patient by one person (`uploaded_by`, with that person's
`client_id`, so a retried upload finds the first row), and later attached to one message of a
thread of that patient, at most once. Its stored files are re-encoded from pixels
(`media.images`); the original bytes are never written.

Invariants kept by the database:
- `client_id` is unique per uploader;
- a message carries at most `MAX_PER_MESSAGE` photos: `position` is 0..9 and unique per message;
- attached means a message and a position and an attachment time, all or none;
- "other" as body site needs its text, and only "other" has one;
- ready means both derivatives are stored.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient

MAX_PER_MESSAGE = 10
CAPTION_MAX_LENGTH = 500
BODY_SITE_OTHER_MAX_LENGTH = 100


class BodySite(models.TextChoices):
    """Where on the body a photo was taken: the usual sites of pressure ulcers first."""

    SACRUM = "sacrum", _("仙骨部")
    COCCYX = "coccyx", _("尾骨部")
    LEFT_HEEL = "left_heel", _("左踵")
    RIGHT_HEEL = "right_heel", _("右踵")
    LEFT_HIP = "left_hip", _("左大転子部(左腰)")
    RIGHT_HIP = "right_hip", _("右大転子部(右腰)")
    LEFT_ANKLE = "left_ankle", _("左足首")
    RIGHT_ANKLE = "right_ankle", _("右足首")
    LEFT_LEG = "left_leg", _("左下腿")
    RIGHT_LEG = "right_leg", _("右下腿")
    BACK = "back", _("背部")
    OTHER = "other", _("その他")


class State(models.TextChoices):
    PROCESSING = "processing", _("処理中")
    READY = "ready", _("完了")
    FAILED = "failed", _("失敗")


class Attachment(models.Model):
    # A UUID, not a sequence: a download URL names nothing countable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    client_id = models.UUIDField()
    # A string reference: media sits below messaging (docs/architecture.md) and imports none
    # of it; messaging attaches by id and reads `message.attachments`.
    message = models.ForeignKey(
        "messaging.Message",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="attachments",
    )
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    attached_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROCESSING)
    source_format = models.CharField(max_length=10)  # what was decoded: JPEG, PNG, WEBP, HEIF
    content_type = models.CharField(max_length=40, default="image/jpeg")  # of the stored file
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    # Storage names (not FileFields: nothing but media.services writes them).
    file = models.CharField(max_length=200)
    thumb_file = models.CharField(max_length=200, blank=True)
    display_file = models.CharField(max_length=200, blank=True)
    taken_at = models.DateTimeField(_("撮影日時"))
    taken_at_source = models.CharField(max_length=10, default="upload")  # "exif" or "upload"
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)
    body_site = models.CharField(_("部位"), max_length=20, choices=BodySite.choices, blank=True)
    body_site_other = models.CharField(
        _("部位(その他)"), max_length=BODY_SITE_OTHER_MAX_LENGTH, blank=True
    )
    caption = models.CharField(_("説明"), max_length=CAPTION_MAX_LENGTH, blank=True)

    class Meta:
        ordering = ["taken_at", "uploaded_at"]
        verbose_name = _("写真")
        verbose_name_plural = _("写真")
        constraints = [
            models.UniqueConstraint(
                fields=["uploaded_by", "client_id"], name="unique_attachment_client_id"
            ),
            models.UniqueConstraint(fields=["message", "position"], name="unique_photo_position"),
            models.CheckConstraint(
                condition=Q(position__isnull=True) | Q(position__lt=MAX_PER_MESSAGE),
                name="at_most_ten_photos_per_message",
            ),
            models.CheckConstraint(
                condition=Q(message__isnull=True, position__isnull=True, attached_at__isnull=True)
                | Q(message__isnull=False, position__isnull=False, attached_at__isnull=False),
                name="attached_all_or_nothing",
            ),
            models.CheckConstraint(
                condition=Q(body_site="other", body_site_other__gt="")
                | (~Q(body_site="other") & Q(body_site_other="")),
                name="other_body_site_has_text",
            ),
            models.CheckConstraint(
                condition=~Q(state="ready") | (Q(thumb_file__gt="") & Q(display_file__gt="")),
                name="ready_has_derivatives",
            ),
            models.CheckConstraint(condition=~Q(file=""), name="attachment_has_file"),
        ]
        indexes = [
            # The gallery and the wound timeline: a patient's photos by date (and site).
            models.Index(fields=["patient", "body_site", "taken_at"], name="photo_timeline"),
            # The sweep of unattached uploads.
            models.Index(
                fields=["uploaded_at"], condition=Q(message__isnull=True), name="photo_unattached"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk}"

    @property
    def body_site_text(self) -> str:
        if self.body_site == BodySite.OTHER:
            return self.body_site_other
        return str(BodySite(self.body_site).label) if self.body_site else ""
