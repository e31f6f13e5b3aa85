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
from functools import cached_property
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import NotFound
from media.models import MAX_PER_MESSAGE, BodySite
from messaging.access import thread_member_ids
from messaging.fold import highlight
from messaging.mentions import MENTION_RE
from messaging.models import (
    Message,
    MessageKind,
    MessageRevision,
    Priority,
    ReadState,
    Thread,
    ThreadKind,
)
from messaging.selectors import (
    attach_attachments,
    attach_mentions,
    audit_thread_read,
    home_unread_threads,
    mentioned_users,
    message_readers,
    message_revisions,
    messages_base,
    parse_seq,
)
from patients.access import active_team
from patients.models import CareRole, CareTeamMember
from teams.models import Membership, User

# The patient page shows this many of the newest messages; "load older" pages back by as many.
PAGE_SIZE = 50
# Home lists at most this many threads with unread messages (the total counts them all).
HOME_THREADS = 200


@dataclass(frozen=True)
class KindChoice:
    """One of the composer's choices: what the message is, in the words a nurse uses, and
    what sending it does (an urgent message is urgent priority: it goes to the physician)."""

    value: str
    label: str
    hint: str


@dataclass(frozen=True)
class BodyPart:
    """A run of a message's text; `mention` runs are an @name of someone the post mentioned."""

    text: str
    mention: bool = False
    username: str = ""


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
    def kind_choices(self) -> list[KindChoice]:
        return [
            KindChoice(str(v), str(label), str(KIND_HINTS[v])) for v, label in MessageKind.choices
        ]

    @property
    def priorities(self) -> list[tuple[str, Any]]:
        return list(Priority.choices)

    @cached_property
    def members(self) -> list[dict[str, Any]]:
        """Whom the composer's @ picker offers: the thread's current members, with their kana,
        profession and roles on the patient's team today (@主治医 finds whoever holds it)."""
        ids = thread_member_ids(self.thread)
        roles: dict[int, list[str]] = {}
        if self.thread.patient_id is not None:
            places = active_team(self.thread.patient_id).filter(user_id__in=ids)
            for uid, role in places.values_list("user_id", "role").order_by("id"):
                roles.setdefault(uid, []).append(str(CareRole(role).label))
        users = User.objects.filter(pk__in=ids).order_by("name_kana", "pk")
        return [
            {
                "username": u.username,
                "name": str(u),
                "kana": u.name_kana,
                "profession": str(u.get_profession_display()),
                "roles": roles.get(u.pk, []),
            }
            for u in users
            if u.pk != self.user.pk
        ]

    @property
    def my_last_read(self) -> int:
        """How far the reader had read when the page was rendered."""
        return self.read_marks.get(self.user.pk, 0)

    @property
    def first_unread_seq(self) -> int | None:
        """The first message on this page that others wrote after the reader's mark: the page
        opens there, under the "新着 N件" divider."""
        for m in self.messages:
            if m.seq > self.my_last_read and m.author_id != self.user.pk and not m.is_deleted:
                return m.seq
        return None

    @property
    def unread_count(self) -> int:
        mark = self.my_last_read
        return sum(
            1
            for m in self.messages
            if m.seq > mark and m.author_id != self.user.pk and not m.is_deleted
        )

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
            "members": self.members,
            "patient": self.thread.patient_id,
            "maxPhotos": MAX_PER_MESSAGE,
            "urls": {
                "attachments": reverse("media:attachment-upload"),
                "messages": reverse("messaging:thread-messages", args=[str(thread_id)]),
                "read": reverse("messaging:thread-read", args=[str(thread_id)]),
                # Pages of one message; thread.js puts the seq in place of the 0.
                "readers": reverse("message-readers-page", args=[thread_id, 0]),
                "history": reverse("message-history-page", args=[thread_id, 0]),
                "socket": "/ws/",
            },
        }


KIND_HINTS: dict[str, Any] = {
    MessageKind.NOTE: gettext_lazy("ふだんの報告・連絡"),
    MessageKind.VITALS: gettext_lazy("血圧・体温・SpO2 などの測定値"),
    MessageKind.QUESTION: gettext_lazy("返事がほしいこと"),
    MessageKind.HANDOVER: gettext_lazy("次に訪問する人への引き継ぎ"),
    MessageKind.URGENT: gettext_lazy("すぐ対応が必要: 主治医に緊急で知らせます"),
}


@dataclass(frozen=True)
class UnreadThread:
    """One of the reader's threads with unread messages, as home lists it."""

    thread: Thread
    title: str
    url: str
    unread: int
    unread_urgent: int


@dataclass(frozen=True)
class PatientUnread:
    """A patient card's count: unread messages in the patient's threads, and how many urgent."""

    unread: int
    urgent: int


@dataclass
class HomeUnread:
    """Home's unread counts: the threads, urgent first, and per patient on the page."""

    user_id: int
    threads: list[UnreadThread]
    per_patient: dict[int, PatientUnread]
    total: int

    @property
    def client(self) -> dict[str, Any]:
        """The JSON messaging/unread.js starts from (rendered with `json_script`)."""
        return {
            "me": self.user_id,
            "total": self.total,
            "threads": {
                str(t.thread.pk): {
                    "unread": t.unread,
                    "urgent": t.unread_urgent,
                    "patient": t.thread.patient_id,
                }
                for t in self.threads
            },
            "socket": "/ws/",
        }


def _thread_title(thread: Thread) -> str:
    if thread.kind == ThreadKind.CONTACT_BOOK and thread.patient is not None:
        return f"{thread.patient.name} · {_('連絡帳')}"
    if thread.patient is not None:
        return f"{thread.patient.name} · {thread.title}"
    scope = thread.organization or thread.network
    return f"{scope} · {thread.title}" if scope is not None else thread.title


def thread_url(thread: Thread) -> str:
    """Where a thread is read on the pages: a contact book on its patient's page, any other
    thread on its own page."""
    if thread.kind == ThreadKind.CONTACT_BOOK and thread.patient_id is not None:
        return reverse("patient-detail", args=[thread.patient_id]) + "#thread"
    return reverse("thread-page", args=[thread.pk])


def home_unread(user: User, patient_ids: list[int]) -> HomeUnread:
    """The reader's threads with unread messages (one query, audited as listed), and the
    counts of the patients `patient_ids` that home shows."""
    rows = home_unread_threads(user)[:HOME_THREADS]
    threads = [
        UnreadThread(
            thread=t,
            title=_thread_title(t),
            url=thread_url(t),
            unread=int(t.unread),  # type: ignore[attr-defined]
            unread_urgent=int(t.unread_urgent),  # type: ignore[attr-defined]
        )
        for t in rows
    ]
    shown = set(patient_ids)
    counts: dict[int, tuple[int, int]] = {}
    for t in threads:
        pid = t.thread.patient_id
        if pid is not None and pid in shown:
            n, urgent = counts.get(pid, (0, 0))
            counts[pid] = (n + t.unread, urgent + t.unread_urgent)
    return HomeUnread(
        user_id=user.pk,
        threads=threads,
        per_patient={pid: PatientUnread(n, u) for pid, (n, u) in counts.items()},
        total=sum(t.unread for t in threads),
    )


def body_parts(message: Message) -> list[BodyPart]:
    """The body split so that the @mentions the post resolved can be highlighted.

    Only names that the service resolved (members at posting time) are highlighted; any other
    "@word" stays plain text. The same rule runs in thread.js for live messages.
    """
    if message.is_deleted:
        return []
    names = {u.username: str(u) for u in mentioned_users(message)}
    parts: list[BodyPart] = []
    pos = 0
    for match in MENTION_RE.finditer(message.body):
        if match.group(1) not in names:
            continue
        if match.start() > pos:
            parts.append(BodyPart(message.body[pos : match.start()]))
        # The stored text keeps the login name (the mention is the person); shown by name.
        parts.append(BodyPart("@" + names[match.group(1)], mention=True, username=match.group(1)))
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


@dataclass(frozen=True)
class ReadListEntry:
    """One person of a message's read list: who, for which organization, and (for a reader)
    when their read mark last moved, at or past this message."""

    user: User
    organization: str
    read_at: dt.datetime | None = None


@dataclass
class ReadList:
    """Who read message `seq` (既読) and which current members have not, by name."""

    message: Message
    readers: list[ReadListEntry]
    unread: list[ReadListEntry]


def read_list(user: User, thread: Thread, seq: Any) -> ReadList:
    """The read list of a message of a gated thread: its readers (author excepted), and the
    thread's current members who have not read it; an audited read of the thread."""
    message = messages_base().filter(thread=thread, seq=parse_seq(seq)).first()
    if message is None:
        raise NotFound
    states = message_readers(thread, message.seq)
    read_ids = {s.user_id for s in states}
    waiting_ids = [
        uid for uid in thread_member_ids(thread) if uid not in read_ids and uid != message.author_id
    ]
    waiting = list(User.objects.filter(pk__in=waiting_ids).order_by("name_kana", "pk"))
    orgs = _organizations(thread, read_ids | set(waiting_ids))
    audit_thread_read(user, thread, f"readers seq={message.seq}")
    return ReadList(
        message=message,
        readers=[ReadListEntry(s.user, orgs.get(s.user_id, ""), s.updated_at) for s in states],
        unread=[ReadListEntry(u, orgs.get(u.pk, "")) for u in waiting],
    )


@dataclass
class History:
    """A message's texts: the earlier ones oldest first, then the current one."""

    message: Message
    revisions: list[MessageRevision]


def message_history(user: User, thread: Thread, seq: Any) -> History:
    """The edit history of a message of a gated thread (a tombstone has none to show)."""
    message = messages_base().filter(thread=thread, seq=parse_seq(seq)).first()
    if message is None or message.is_deleted:
        raise NotFound
    return History(message=message, revisions=message_revisions(user, thread, message.seq))


@dataclass(frozen=True)
class SearchHit:
    """A message found by search, as the search page shows it: where it is, and its text in
    runs with the matches marked."""

    message: Message
    title: str
    url: str
    runs: list[tuple[str, bool]]


def search_hits(messages: list[Message], q: str) -> list[SearchHit]:
    """The search page's rows for messages already found (and audited) by `selectors.search`."""
    return [
        SearchHit(
            message=m,
            title=_thread_title(m.thread),
            url=thread_url(m.thread).split("#")[0] + f"#msg-{m.seq}",
            runs=highlight(m.body, q),
        )
        for m in messages
    ]


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
