"""Input and output serializers of the messaging API.

The output of a message is also the payload of its live events (`messaging.events`), so a
client renders an event exactly like the API's answer and never refetches.
A deleted message renders as a tombstone: `deleted` true, empty body, no mentions.

Messages are rendered by the plain function `message_data` (the hot path: every page of
history, every event); `MessageOutputSerializer` describes the same shape for the schema, and a
test holds the two equal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config import fields as strict
from media.serializers import AttachmentOutputSerializer, attachment_data
from messaging.models import (
    BODY_MAX_LENGTH,
    BODY_REQUIRED,
    BODY_TOO_LONG,
    EscalationStep,
    Message,
    MessageKind,
    Priority,
    ReplyKind,
    Request,
    RequestStatus,
    Thread,
)
from messaging.selectors import SyncResult, mentioned_users, message_attachments
from teams.models import User


def user_ref(user: User) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "display_name": str(user)}


class UserRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField(source="__str__")


class MessageOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    thread = serializers.IntegerField(source="thread_id")
    seq = serializers.IntegerField()
    author = UserRefSerializer()
    body = serializers.SerializerMethodField()
    kind = serializers.CharField()
    priority = serializers.CharField()
    reply_to = serializers.SerializerMethodField(help_text="返信先のseq")
    mentions = serializers.SerializerMethodField()
    client_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField(source="is_deleted")
    read_by = serializers.SerializerMethodField(help_text="投稿者以外で既読の人数")
    attachments = serializers.SerializerMethodField(help_text="添付された写真(順番どおり)")

    def get_body(self, obj: Message) -> str:
        return "" if obj.is_deleted else obj.body

    def get_reply_to(self, obj: Message) -> int | None:
        return obj.reply_to.seq if obj.reply_to is not None else None

    def get_mentions(self, obj: Message) -> list[dict[str, Any]]:
        if obj.is_deleted:
            return []
        return [user_ref(u) for u in mentioned_users(obj)]

    def get_read_by(self, obj: Message) -> int:
        # Set by the selectors (`attach_read_by`); a message nobody has counted yet has 0.
        return int(getattr(obj, "read_by", 0))

    @extend_schema_field(AttachmentOutputSerializer(many=True))
    def get_attachments(self, obj: Message) -> list[dict[str, Any]]:
        if obj.is_deleted:
            return []
        return [attachment_data(a) for a in message_attachments(obj)]


def datetime_data(value: dt.datetime | None) -> str | None:
    """A datetime as DRF's `DateTimeField` renders it: ISO 8601 in the current time zone."""
    if value is None:
        return None
    tz = timezone.get_current_timezone()
    local = value.astimezone(tz) if timezone.is_aware(value) else timezone.make_aware(value, tz)
    text = local.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_data(message: Message) -> dict[str, Any]:
    """A message as the API and the live events show it, as plain JSON-ready types.

    The same output as `MessageOutputSerializer`, written out: the serializer's per-field
    machinery cost more than the rest of a history page. Give it messages from
    `messaging.selectors` (author and reply target joined, mentions and `read_by` attached).
    """
    deleted = message.deleted_at is not None
    reply_to = message.reply_to
    return {
        "id": message.pk,
        "thread": message.thread_id,
        "seq": message.seq,
        "author": user_ref(message.author),
        "body": "" if deleted else message.body,
        "kind": str(message.kind),
        "priority": str(message.priority),
        "reply_to": reply_to.seq if reply_to is not None else None,
        "mentions": [] if deleted else [user_ref(u) for u in mentioned_users(message)],
        "client_id": str(message.client_id),
        "created_at": datetime_data(message.created_at),
        "edited_at": datetime_data(message.edited_at),
        "deleted_at": datetime_data(message.deleted_at),
        "deleted": deleted,
        # Set by the selectors (`attach_read_by`); a message nobody has counted yet has 0.
        "read_by": int(getattr(message, "read_by", 0)),
        # The photos, in order (a deleted message's are hidden with its text).
        "attachments": []
        if deleted
        else [attachment_data(a) for a in message_attachments(message)],
    }


class NamedRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ThreadOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    patient = NamedRefSerializer(allow_null=True)
    organization = NamedRefSerializer(allow_null=True)
    network = NamedRefSerializer(allow_null=True)
    last_seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ThreadListItemSerializer(ThreadOutputSerializer):
    last_read_seq = serializers.IntegerField(source="my_last_read")
    unread = serializers.IntegerField()
    last_message = serializers.SerializerMethodField()

    def get_last_message(self, obj: Thread) -> dict[str, Any] | None:
        message = getattr(obj, "last_message", None)
        return message_data(message) if message is not None else None


BODY_ERRORS: dict[str, Any] = {
    "required": BODY_REQUIRED,
    "blank": BODY_REQUIRED,
    "max_length": BODY_TOO_LONG,
}


class MessagePostInputSerializer(serializers.Serializer[Any]):
    client_id = strict.UUIDField(
        error_messages={"invalid": _("client_id はUUIDで指定してください。")}
    )
    body = strict.CharField(max_length=BODY_MAX_LENGTH, error_messages=BODY_ERRORS)
    kind = serializers.ChoiceField(choices=MessageKind.choices, default=MessageKind.NOTE)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    reply_to = strict.IntegerField(min_value=1, required=False, allow_null=True)
    # Checked by the service (`media.services.check_attachable`): at most ten, each the
    # poster's own upload for this patient, not attached yet.
    attachments = serializers.ListField(
        child=strict.UUIDField(error_messages={"invalid": _("写真のIDが不正です。")}),
        required=False,
        allow_empty=True,
        max_length=50,
    )


class MessageEditInputSerializer(serializers.Serializer[Any]):
    body = strict.CharField(max_length=BODY_MAX_LENGTH, error_messages=BODY_ERRORS)


class MessagePageQuerySerializer(serializers.Serializer[Any]):
    after = strict.IntegerField(min_value=0, required=False)
    before = strict.IntegerField(min_value=1, required=False)
    limit = strict.IntegerField(min_value=1, max_value=200, default=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "after" in attrs and "before" in attrs:
            raise serializers.ValidationError(
                {"before": [_("after と before は同時に指定できません。")]}
            )
        return attrs


class MessagePageSerializer(serializers.Serializer[Any]):
    results = MessageOutputSerializer(many=True)
    has_more = serializers.BooleanField()
    last_seq = serializers.IntegerField()


class ReadInputSerializer(serializers.Serializer[Any]):
    seq = strict.IntegerField(min_value=0)


class ReadOutputSerializer(serializers.Serializer[Any]):
    thread = serializers.IntegerField()
    last_read_seq = serializers.IntegerField()


class ReaderSerializer(serializers.Serializer[Any]):
    user = UserRefSerializer()
    last_read_seq = serializers.IntegerField()


class ReaderListSerializer(serializers.Serializer[Any]):
    """Who has read a message: all of them (a care team), so no pages."""

    count = serializers.IntegerField()
    results = ReaderSerializer(many=True)


class RevisionSerializer(serializers.Serializer[Any]):
    body = serializers.CharField()
    edited_by = UserRefSerializer()
    replaced_at = serializers.DateTimeField()


class RevisionListSerializer(serializers.Serializer[Any]):
    results = RevisionSerializer(many=True)


MAX_SYNC_THREADS = 2000


class SyncInputSerializer(serializers.Serializer[Any]):
    threads = serializers.DictField(child=strict.IntegerField(min_value=0), default=dict)

    def validate_threads(self, value: dict[str, int]) -> dict[int, int]:
        if len(value) > MAX_SYNC_THREADS:
            raise serializers.ValidationError(_("スレッドが多すぎます。"))
        out: dict[int, int] = {}
        for key, seq in value.items():
            try:
                pk = int(key)
            except (TypeError, ValueError):
                pk = 0
            if not 0 < pk < 2**63:  # a thread id is a positive bigint
                raise serializers.ValidationError(_("スレッドIDは整数で指定してください。"))
            out[pk] = seq
        return out


class TopicThreadInputSerializer(serializers.Serializer[Any]):
    title = strict.CharField(max_length=200)


class CoordinationThreadInputSerializer(serializers.Serializer[Any]):
    title = strict.CharField(max_length=200)
    organization = strict.IntegerField(required=False)
    network = strict.IntegerField(required=False)


class SearchQuerySerializer(serializers.Serializer[Any]):
    q = strict.CharField(max_length=200)


class SearchResultSerializer(serializers.Serializer[Any]):
    thread = ThreadOutputSerializer()
    message = MessageOutputSerializer()


class SyncThreadSerializer(serializers.Serializer[Any]):
    """One thread of a sync answer; `messages` and `has_more` only for the threads named."""

    thread = ThreadOutputSerializer()
    last_seq = serializers.IntegerField()
    last_read_seq = serializers.IntegerField()
    unread = serializers.IntegerField()
    messages = MessageOutputSerializer(many=True, required=False)
    has_more = serializers.BooleanField(required=False)


class SyncOutputSerializer(serializers.Serializer[Any]):
    """The shape of `sync_data`, for the schema: threads by id (as text), removed ids."""

    threads = serializers.DictField(child=SyncThreadSerializer())
    removed = serializers.ListField(child=serializers.IntegerField())


def sync_data(result: SyncResult) -> dict[str, Any]:
    """The sync answer as the API and the socket's resync frame send it."""
    out: dict[str, Any] = {}
    for item in result.threads:
        t = item.thread
        entry: dict[str, Any] = {
            "thread": dict(ThreadOutputSerializer(t).data),
            "last_seq": t.last_seq,
            "last_read_seq": t.my_last_read,  # type: ignore[attr-defined]
            "unread": t.unread,  # type: ignore[attr-defined]
        }
        if item.messages is not None:
            entry["messages"] = [message_data(m) for m in item.messages]
            entry["has_more"] = item.has_more
        out[str(t.pk)] = entry
    return {"threads": out, "removed": result.removed}


# --- requests and their chain ----------------------------------------------------------------


def step_data(step: EscalationStep) -> dict[str, Any]:
    recipient = step.recipient
    return {
        "order": step.order,
        "tier": str(step.tier),
        "tier_label": str(step.get_tier_display()),
        "recipient": user_ref(recipient) if recipient is not None else None,
        "deadline": datetime_data(step.deadline),
        "fired_at": datetime_data(step.fired_at),
        "skipped": step.skipped,
        "acknowledged_at": datetime_data(step.acknowledged_at),
        "declined_at": datetime_data(step.declined_at),
    }


def request_data(request: Request) -> dict[str, Any]:
    """A request as the API and its live events show it, with its replies and chain."""
    now = timezone.now()
    return {
        "id": request.pk,
        "thread": request.thread_id,
        "seq": request.message.seq,
        "patient": request.patient_id,
        "requested_by": user_ref(request.requested_by),
        "owner": user_ref(request.owner),
        "addressee_role": request.addressee_role,
        "priority": str(request.priority),
        "due_at": datetime_data(request.due_at),
        "overdue": bool(
            request.status == RequestStatus.OPEN and request.due_at and request.due_at < now
        ),
        "status": str(request.status),
        "created_at": datetime_data(request.created_at),
        "closed_at": datetime_data(request.closed_at),
        "answered_by": user_ref(request.answered_by) if request.answered_by else None,
        "replies": [
            {
                "kind": str(r.kind),
                "label": str(r.get_kind_display()),
                "author": user_ref(r.author),
                "seq": r.message.seq,
                "created_at": datetime_data(r.created_at),
            }
            for r in request.replies.all()
        ],
        "steps": [step_data(s) for s in request.steps.all()],
    }


class RequestCreateInputSerializer(serializers.Serializer[Any]):
    client_id = strict.UUIDField(
        error_messages={"invalid": _("client_id はUUIDで指定してください。")}
    )
    body = strict.CharField(max_length=BODY_MAX_LENGTH, error_messages=BODY_ERRORS)
    to_user = strict.IntegerField(min_value=1, required=False, allow_null=True)
    to_role = strict.CharField(max_length=30, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)


class RequestReplyInputSerializer(serializers.Serializer[Any]):
    client_id = strict.UUIDField(
        error_messages={"invalid": _("client_id はUUIDで指定してください。")}
    )
    kind = serializers.ChoiceField(choices=ReplyKind.choices)
    body = strict.CharField(max_length=BODY_MAX_LENGTH, required=False, allow_blank=True)


class RequestOutputSerializer(serializers.Serializer[Any]):
    """The shape of `request_data`, for the schema."""

    id = serializers.IntegerField()
    thread = serializers.IntegerField()
    seq = serializers.IntegerField()
    patient = serializers.IntegerField()
    requested_by = UserRefSerializer()
    owner = UserRefSerializer()
    addressee_role = serializers.CharField()
    priority = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.BooleanField()
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    answered_by = UserRefSerializer(allow_null=True)
    replies = serializers.ListField(child=serializers.DictField())
    steps = serializers.ListField(child=serializers.DictField())
