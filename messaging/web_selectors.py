"""Reads that only the web pages of messaging need: one page of a thread, ready to render.

The thread passed in must already have passed the gate: the patient page gets its contact book
from a patient it fetched through `patients.selectors.patient_get`, and the thread views call
`messaging.access.access_thread`. Nothing here widens what the caller may see.

A page runs a fixed number of queries (messages, their mentions, the thread's read marks, the
authors' organizations), whatever the number of messages: the tests pin the count.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone

from media.models import MAX_PER_MESSAGE, BodySite
from messaging.mentions import MENTION_RE
from messaging.models import Message, MessageKind, Priority, ReadState, Thread
from messaging.selectors import (
    attach_attachments,
    attach_mentions,
    audit_thread_read,
    mentioned_users,
    messages_base,
)
from patients.models import CareTeamMember
from teams.models import Membership, User

# The patient page shows this many of the newest messages; "load older" pages back by as many.
PAGE_SIZE = 50


@dataclass(frozen=True)
class BodyPart:
    """A run of a message's text; `mention` runs are an @name of someone the post mentioned."""

    text: str
    mention: bool = False


@dataclass
class ThreadPage:
    """What a thread's web page shows: a window of messages, oldest first."""

    user: User
    thread: Thread
    messages: list[Message]
    has_older: bool
    # Everyone's read mark in this thread (user id -> last read seq), so the page can count
    # 既読 live from `read.updated` events without asking the server again.
    read_marks: dict[int, int]
    # Author id -> the organization they post for (their place on the care team).
    organizations: dict[int, str]
    # A fresh idempotency key for the composer when it is posted without JavaScript.
    new_client_id: uuid.UUID = field(default_factory=uuid.uuid4)
    rendered_at: dt.datetime = field(default_factory=timezone.now)

    @property
    def kinds(self) -> list[tuple[str, Any]]:
        return list(MessageKind.choices)

    @property
    def priorities(self) -> list[tuple[str, Any]]:
        return list(Priority.choices)

    @property
    def body_sites(self) -> list[tuple[str, Any]]:
        return list(BodySite.choices)

    @property
    def takes_photos(self) -> bool:
        """Photos go to a patient's threads only (`media.services.check_attachable`)."""
        return self.thread.patient_id is not None

    @property
    def oldest_seq(self) -> int | None:
        return self.messages[0].seq if self.messages else None

    @property
    def client(self) -> dict[str, Any]:
        """The JSON the page script starts from (rendered with `json_script`)."""
        user = self.user
        thread_id = self.thread.pk
        return {
            "thread": thread_id,
            "me": user.pk,
            "meName": str(user),
            # A post between reading the thread row and its messages shows in the messages.
            "lastSeq": max([self.thread.last_seq, *(m.seq for m in self.messages)]),
            "myLastRead": self.read_marks.get(user.pk, 0),
            "readMarks": {str(k): v for k, v in self.read_marks.items()},
            "organizations": {str(k): v for k, v in self.organizations.items()},
            "renderedAt": int(self.rendered_at.timestamp() * 1000),
            "pageSize": PAGE_SIZE,
            "patient": self.thread.patient_id,
            "maxPhotos": MAX_PER_MESSAGE,
            "urls": {
                "attachments": reverse("media:attachment-upload"),
                "messages": reverse("messaging:thread-messages", args=[str(thread_id)]),
                "read": reverse("messaging:thread-read", args=[str(thread_id)]),
                "socket": "/ws/",
            },
        }


def body_parts(message: Message) -> list[BodyPart]:
    """The body split so that the @mentions the post resolved can be highlighted.

    Only names that the service resolved (members at posting time) are highlighted; any other
    "@word" stays plain text. The same rule runs in thread.js for live messages.
    """
    if message.is_deleted:
        return []
    names = {u.username for u in mentioned_users(message)}
    parts: list[BodyPart] = []
    pos = 0
    for match in MENTION_RE.finditer(message.body):
        if match.group(1) not in names:
            continue
        if match.start() > pos:
            parts.append(BodyPart(message.body[pos : match.start()]))
        parts.append(BodyPart(match.group(0), mention=True))
        pos = match.end()
    if pos < len(message.body):
        parts.append(BodyPart(message.body[pos:]))
    return parts


def _organizations(thread: Thread, author_ids: set[int]) -> dict[int, str]:
    """Author id -> organization name: their place on the patient's team, else their employer.

    Places are read oldest first so a later place (a move to another station) wins. Someone
    with no place (a coordination thread, or a member who has since left) falls back to their
    active memberships, in one more query only when needed.
    """
    out: dict[int, str] = {}
    if thread.patient_id is not None:
        places = (
            CareTeamMember.objects.filter(patient_id=thread.patient_id, organization__isnull=False)
            .order_by("start_date", "id")
            .values_list("user_id", "organization__name")
        )
        for user_id, name in places:
            out[user_id] = name
    missing = author_ids - set(out)
    if missing:
        rows = (
            Membership.objects.filter(user_id__in=missing, is_active=True)
            .order_by("-created_at")
            .values_list("user_id", "organization__name")
        )
        for user_id, name in rows:
            out.setdefault(user_id, name)
    return out


def _attach(messages: Iterable[Message], marks: dict[int, int], orgs: dict[int, str]) -> None:
    """Set `read_by` (readers other than the author, as the API counts), `parts` and
    `organization_name` on each message."""
    for m in messages:
        m.organization_name = orgs.get(m.author_id, "")  # type: ignore[attr-defined]
        m.read_by = sum(  # type: ignore[attr-defined]
            1 for uid, seq in marks.items() if seq >= m.seq and uid != m.author_id
        )
        m.parts = body_parts(m)  # type: ignore[attr-defined]


def thread_page(
    user: User, thread: Thread, *, before: int | None = None, limit: int = PAGE_SIZE
) -> ThreadPage:
    """The newest `limit` messages of a gated thread (or those before seq `before`), oldest
    first, as `user` sees them; an audited read of the thread."""
    limit = max(1, min(limit, 200))
    qs = messages_base().filter(thread=thread)
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    has_older = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    attach_mentions(rows)
    attach_attachments(rows)
    marks = dict(ReadState.objects.filter(thread=thread).values_list("user_id", "last_read_seq"))
    orgs = _organizations(thread, {m.author_id for m in rows})
    _attach(rows, marks, orgs)
    audit_thread_read(user, thread, "messages" if before is None else f"messages before={before}")
    return ThreadPage(
        user=user,
        thread=thread,
        messages=rows,
        has_older=has_older,
        read_marks=marks,
        organizations=orgs,
    )


def thread_page_since(user: User, thread: Thread, *, since: dt.datetime) -> ThreadPage:
    """The messages of a gated thread posted since `since` (at most 200), oldest first: the
    hand-off card's last 72 hours. An audited read."""
    rows = list(messages_base().filter(thread=thread, created_at__gte=since).order_by("-seq")[:200])
    rows.reverse()
    attach_mentions(rows)
    marks = dict(ReadState.objects.filter(thread=thread).values_list("user_id", "last_read_seq"))
    orgs = _organizations(thread, {m.author_id for m in rows})
    _attach(rows, marks, orgs)
    audit_thread_read(user, thread, f"messages since={since.isoformat()}")
    return ThreadPage(
        user=user, thread=thread, messages=rows, has_older=False, read_marks=marks,
        organizations=orgs,
    )  # fmt: skip
