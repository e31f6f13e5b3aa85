"""The wire format of live events: one function builds each event.

Every event names its thread and a seq, so a client that sees a gap in a thread's message seqs
knows it missed something (the channel layer is at-most-once) and resyncs from the database.
The message payload is exactly what the API returns for that message. docs/events.md describes
the frames.
"""

from __future__ import annotations

from typing import Any

from messaging.models import EscalationStep, Message, Request
from messaging.serializers import message_data, request_data, step_data, user_ref
from teams.models import User

MESSAGE_NEW = "message.new"
MESSAGE_EDITED = "message.edited"
MESSAGE_DELETED = "message.deleted"
READ_UPDATED = "read.updated"
ATTACHMENTS_READY = "attachments.ready"


def _message_event(kind: str, message: Message) -> dict[str, Any]:
    return {
        "type": kind,
        "thread": message.thread_id,
        "seq": message.seq,
        "message": message_data(message),
    }


def message_new(message: Message) -> dict[str, Any]:
    return _message_event(MESSAGE_NEW, message)


def message_edited(message: Message) -> dict[str, Any]:
    return _message_event(MESSAGE_EDITED, message)


def message_deleted(message: Message) -> dict[str, Any]:
    return _message_event(MESSAGE_DELETED, message)


def attachments_ready(message: Message) -> dict[str, Any]:
    """A photo of message `seq` has its thumbnail and display size now: the message again,
    its `attachments` with their new state and URLs."""
    return _message_event(ATTACHMENTS_READY, message)


def read_updated(*, thread_id: int, user: User, seq: int) -> dict[str, Any]:
    """`user` has now read `thread_id` up to and including `seq`."""
    return {"type": READ_UPDATED, "thread": thread_id, "seq": seq, "user": user_ref(user)}


REQUEST_UPDATED = "request.updated"
ESCALATION_STEP = "escalation.step"


def request_updated(request: Request) -> dict[str, Any]:
    """A request was made, answered, declined or withdrawn: its state and its chain."""
    return {
        "type": REQUEST_UPDATED,
        "thread": request.thread_id,
        "seq": request.message.seq,
        "request": request_data(request),
    }


def escalation_step(request: Request, step: EscalationStep) -> dict[str, Any]:
    """A step of the request's chain fired, was skipped, declined or acknowledged."""
    return {
        "type": ESCALATION_STEP,
        "thread": request.thread_id,
        "seq": request.message.seq,
        "request": request.pk,
        "step": step_data(step),
    }
