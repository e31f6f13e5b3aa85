"""Reads of threads and messages, already scoped by the thread gate, and audited.

Each function here runs a fixed number of queries, whatever the number of threads or messages,
so list endpoints and the sync stay flat as a team grows (tests pin the counts). Each read of a
patient's thread is audited here, whoever asks (page, API or socket; `audit.reads`): one `read`
row per patient whose messages are returned, one `list` row per patient whose thread is listed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from audit.models import AuditAction
from audit.reads import AuditedRows, audit_patients
from audit.services import audit_record, audit_refusals
from config.errors import NotFound
from media.models import Attachment
from media.selectors import attachments_of
from messaging import sql
from messaging.access import access_thread, threads_visible_to
from messaging.models import Message, MessageRevision, Priority, ReadState, Thread
from patients.models import Patient
from teams.identity import AnyUser
from teams.models import User

MAX_PAGE = 200
DEFAULT_PAGE = 50


def parse_seq(value: Any) -> int:
    """A seq from a URL; garbage is `NotFound`, like a missing message."""
    try:
        seq = int(value)
    except (TypeError, ValueError):
        raise NotFound from None
    if seq < 1:
        raise NotFound
    return seq


def messages_base() -> QuerySet[Message]:
    """Messages with their author and reply target, and whether they carry photos
    (`has_photos`). Their mentions and photos are not loaded here: callers attach them to the
    rows they keep with `attach_mentions` and `attach_attachments` (a query each; none for
    photos when no row has any). The search copy of the body stays in the database (only
    `search` compares it, there)."""
    return (
        Message.objects.select_related("author", "reply_to")
        .defer("body_folded", "reply_to__body_folded")
        .annotate(has_photos=Exists(Attachment.objects.filter(message=OuterRef("pk"))))
    )


def attach_mentions(messages: Iterable[Message]) -> None:
    """Set `mentioned_users` on each message: the users it mentions, in one query for all.

    Reads the through table with the users joined, into plain lists: `prefetch_related`
    builds a queryset per message, which cost more than the query for a page of 50.
    """
    by_id = {m.pk: m for m in messages}
    if not by_id:
        return
    found: dict[int, list[User]] = defaultdict(list)
    through = Message.mentions.through.objects.filter(message_id__in=by_id)
    for row in through.select_related("user").order_by("id"):
        found[row.message_id].append(row.user)
    for pk, message in by_id.items():
        message.mentioned_users = found.get(pk, [])  # type: ignore[attr-defined]


def mentioned_users(message: Message) -> list[User]:
    """The users `message` mentions: as attached by `attach_mentions` (or the service that
    wrote them), else read now (one query; fine for a single message)."""
    users = getattr(message, "mentioned_users", None)
    if users is None:
        attach_mentions([message])
        users = message.mentioned_users  # type: ignore[attr-defined]
    return list(users)


def attach_attachments(messages: Iterable[Message]) -> None:
    """Set `attachment_list` on each message: its photos in order, one query for all. A
    message known to carry none (`has_photos` false, as `messages_base` and the page statements
    say) costs nothing."""
    by_id: dict[int, Message] = {}
    for m in messages:
        if getattr(m, "has_photos", True):
            by_id[m.pk] = m
        else:
            m.attachment_list = []  # type: ignore[attr-defined]
    if not by_id:
        return
    found = attachments_of(list(by_id))
    for pk, message in by_id.items():
        message.attachment_list = found.get(pk, [])  # type: ignore[attr-defined]


def message_attachments(message: Message) -> list[Attachment]:
    """The photos of `message`: as attached by `attach_attachments` (or the post that attached
    them), else read now (one query; fine for a single message)."""
    rows = getattr(message, "attachment_list", None)
    if rows is None:
        attach_attachments([message])
        rows = message.attachment_list  # type: ignore[attr-defined]
    return list(rows)


def _with_read_state(user: User, threads: QuerySet[Thread]) -> QuerySet[Thread]:
    """Annotate `my_last_read` and `unread` (others' live messages after my last read)."""
    my_read = ReadState.objects.filter(thread=OuterRef("pk"), user=user).values("last_read_seq")[:1]
    unread = (
        Message.objects.filter(
            thread=OuterRef("pk"), seq__gt=OuterRef("my_last_read"), deleted_at__isnull=True
        )
        .exclude(author=user)
        .order_by()
        .values("thread")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return threads.annotate(
        my_last_read=Coalesce(Subquery(my_read), Value(0), output_field=BigIntegerField())
    ).annotate(unread=Coalesce(Subquery(unread), Value(0), output_field=BigIntegerField()))


THREAD = "messaging.thread"  # the object type of the audit rows of thread reads


def audit_thread_read(user: AnyUser, thread: Thread, detail: str = "") -> None:
    """The `read` row of one thread shown to `user` (its messages, or the thread itself)."""
    audit_record(user, AuditAction.READ, patient=thread.patient_id, obj=thread, detail=detail)


def _audit_threads(user: AnyUser, action: AuditAction, threads: Iterable[Thread]) -> None:
    audit_patients(user, action, patient_ids=[t.patient_id for t in threads], object_type=THREAD)


def _threads(user: User) -> QuerySet[Thread]:
    """The user's threads, newest activity first, with `my_last_read` and `unread`."""
    threads = threads_visible_to(user).select_related("patient", "organization", "network")
    return _with_read_state(user, threads).order_by(
        F("last_message_at").desc(nulls_last=True), "-id"
    )


def thread_list(user: User) -> AuditedRows[Thread]:
    """The user's threads, newest activity first, with `my_last_read` and `unread`; the
    threads taken from it are audited as listed."""
    return AuditedRows(_threads(user), lambda rows: _audit_threads(user, AuditAction.LIST, rows))


def patient_threads(user: User, patient: Patient) -> AuditedRows[Thread]:
    """The threads of a patient the caller already passed through `access_patient`."""
    threads = _threads(user).filter(patient=patient)
    return AuditedRows(threads, lambda rows: _audit_threads(user, AuditAction.LIST, rows))


def home_unread_threads(user: User) -> AuditedRows[Thread]:
    """The user's threads with unread messages: those with unread urgent messages first, then
    newest activity; each has `unread` and `unread_urgent`. Listed threads are audited as
    listed, like `thread_list` (home shows them; the digest's `unread_threads` shows no
    thread's content and audits nothing)."""
    urgent = (
        Message.objects.filter(
            thread=OuterRef("pk"),
            seq__gt=OuterRef("my_last_read"),
            deleted_at__isnull=True,
            priority=Priority.URGENT,
        )
        .exclude(author=user)
        .order_by()
        .values("thread")
        .annotate(n=Count("pk"))
        .values("n")
    )
    threads = (
        _threads(user)
        .annotate(
            unread_urgent=Coalesce(Subquery(urgent), Value(0), output_field=BigIntegerField())
        )
        # `unread` is annotated by `_threads`; the stubs do not follow it.
        .filter(unread__gt=0)  # type: ignore[misc]
        .order_by(F("unread_urgent").desc(), F("last_message_at").desc(nulls_last=True), "-id")
    )
    return AuditedRows(threads, lambda rows: _audit_threads(user, AuditAction.LIST, rows))


def thread_get(user: AnyUser, thread_id: Any) -> Thread:
    """One thread the user may see, else `NotFound`; an audited read."""
    thread = access_thread(user, thread_id)
    audit_thread_read(user, thread)
    return thread


def attach_read_by(messages: Iterable[Message]) -> None:
    """Set `read_by` on each message: how many people other than its author have read it.

    One query for all the messages' threads: read states are one row per reader and thread.
    Counted with a binary search over each thread's sorted marks, so a page of a thread with a
    large team costs O(messages × log readers), not O(messages × readers).
    """
    messages = list(messages)
    thread_ids = {m.thread_id for m in messages}
    if not thread_ids:
        return
    marks: dict[int, dict[int, int]] = defaultdict(dict)
    for thread_id, user_id, seq in ReadState.objects.filter(thread_id__in=thread_ids).values_list(
        "thread_id", "user_id", "last_read_seq"
    ):
        marks[thread_id][user_id] = seq
    sorted_marks = {tid: sorted(by_user.values()) for tid, by_user in marks.items()}
    for m in messages:
        seqs = sorted_marks.get(m.thread_id, [])
        readers = len(seqs) - bisect_left(seqs, m.seq)  # marks at or past this message
        if marks[m.thread_id].get(m.author_id, -1) >= m.seq:
            readers -= 1  # the author's own mark does not count
        m.read_by = readers  # type: ignore[attr-defined]


def attach_last_messages(threads: Sequence[Thread]) -> None:
    """Set `last_message` on each thread (None when empty), in a fixed number of queries."""
    wanted = Q()
    for t in threads:
        if t.last_seq:
            wanted |= Q(thread_id=t.pk, seq=t.last_seq)
    by_thread: dict[int, Message] = {}
    if wanted:
        by_thread = {m.thread_id: m for m in messages_base().filter(wanted)}
        attach_read_by(by_thread.values())
        attach_mentions(by_thread.values())
        attach_attachments(by_thread.values())
    for t in threads:
        t.last_message = by_thread.get(t.pk)  # type: ignore[attr-defined]


def _user_ref_instance(values: Sequence[Any], seen: dict[int, User]) -> User:
    """A `User` with only the fields a user reference shows (the others load if touched).
    One instance per user in `seen`: a page of 50 messages has a handful of authors."""
    user = seen.get(values[0])
    if user is None:
        user = seen[values[0]] = User.from_db(DEFAULT_DB_ALIAS, sql.USER_REF_FIELDS, values)
    return user


def _messages_from_rows(raw: Iterable[Sequence[Any]]) -> list[Message]:
    """Messages from the rows of `sql.messages_page` and `sql.messages_missed`, with author,
    reply target (its seq), mentions and `read_by` set, as `messages_base` plus the
    `attach_*` helpers give them."""
    fields = sql.MESSAGE_FIELDS
    n_message, n_user = len(fields), len(sql.USER_REF_FIELDS)
    attnames = [f.attname for f in fields]
    author_field, reply_field = Message.author.field, Message.reply_to.field
    rows: list[Message] = []
    users: dict[int, User] = {}
    for values in raw:
        message = Message.from_db(DEFAULT_DB_ALIAS, attnames, values[:n_message])
        author = _user_ref_instance(values[n_message : n_message + n_user], users)
        author_field.set_cached_value(message, author)
        reply_seq, mentions, read_by, has_photos = values[n_message + n_user :]
        reply = None
        if message.reply_to_id is not None:
            reply = Message.from_db(
                DEFAULT_DB_ALIAS, ["id", "seq"], [message.reply_to_id, reply_seq]
            )
        reply_field.set_cached_value(message, reply)
        message.mentioned_users = [_user_ref_instance(u, users) for u in mentions or []]  # type: ignore[attr-defined]
        message.read_by = read_by  # type: ignore[attr-defined]
        message.has_photos = has_photos  # type: ignore[attr-defined]
        rows.append(message)
    attach_attachments(rows)
    return rows


def messages_page(
    user: AnyUser,
    thread: Thread,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = DEFAULT_PAGE,
) -> tuple[list[Message], bool]:
    """A page of the thread's messages and whether there are more in that direction.

    `after`: the messages after that seq, oldest first (catching up). `before`: the messages
    before that seq, newest first (scrolling back). Neither: the newest, newest first.
    The messages come with their author, reply target, mentions and `read_by`, in one query.
    `thread` is one the caller got from `access_thread` for `user`; the read is audited.
    """
    limit = max(1, min(limit, MAX_PAGE))
    low = after if after is not None else 0
    high = before if after is None and before is not None else 2**63 - 1
    statement = sql.messages_page("ASC" if after is not None else "DESC")
    with connection.cursor() as cursor:
        cursor.execute(statement, [thread.pk, low, high, limit + 1])
        raw = cursor.fetchall()
    audit_thread_read(user, thread, "messages")
    return _messages_from_rows(raw[:limit]), len(raw) > limit


def _message(thread: Thread, seq: Any) -> Message:
    message = Message.objects.filter(thread=thread, seq=parse_seq(seq)).first()
    if message is None:
        raise NotFound
    return message


def message_get(user: AnyUser, thread: Thread, seq: Any) -> Message:
    """One message of a gated thread, ready to render (mentions and `read_by` attached); an
    audited read."""
    message = messages_base().filter(thread=thread, seq=parse_seq(seq)).first()
    if message is None:
        raise NotFound
    attach_mentions([message])
    attach_read_by([message])
    attach_attachments([message])
    audit_thread_read(user, thread, f"seq={message.seq}")
    return message


def message_readers(thread: Thread, seq: Any) -> list[ReadState]:
    """Who has read message `seq` (既読), its author excepted, in the order they are named."""
    message = _message(thread, seq)
    return list(
        ReadState.objects.filter(thread=thread, last_read_seq__gte=message.seq)
        .exclude(user_id=message.author_id)
        .select_related("user")
        .order_by("user__name_kana", "user_id")
    )


def message_revisions(user: AnyUser, thread: Thread, seq: Any) -> list[MessageRevision]:
    """The earlier texts of a message, oldest first (its edit history); an audited read."""
    message = _message(thread, seq)
    revisions = list(message.revisions.select_related("edited_by").order_by("id"))
    audit_thread_read(user, thread, f"revisions seq={message.seq}")
    return revisions


@dataclass
class ThreadSync:
    thread: Thread
    messages: list[Message] | None = None  # None: the client did not name this thread
    has_more: bool = False


@dataclass
class SyncResult:
    threads: list[ThreadSync] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


def sync(user: User, known: dict[int, int], *, limit: int = MAX_PAGE) -> SyncResult:
    """Everything the client missed in the threads it names, and the state of all others.

    For each thread the client names with its last seen seq: the messages after it, oldest
    first, at most `limit` (then `has_more`, and the client pages with `?after=`). For the
    user's other threads only their latest seq and unread count: sending whole histories of
    threads the client never opened would be too much. Named threads the user may no longer
    see are listed in `removed` so the client can drop them.
    """
    threads = list(_threads(user))
    by_id = {t.pk: t for t in threads}
    removed = sorted(tid for tid in known if tid not in by_id)
    named = {tid: seq for tid, seq in known.items() if tid in by_id}

    missed: dict[int, list[Message]] = defaultdict(list)
    behind = [(tid, seq) for tid, seq in named.items() if by_id[tid].last_seq > seq]
    if behind:
        # One statement for all threads; each sends at most limit + 1 (the extra one only
        # tells us there is more).
        with connection.cursor() as cursor:
            cursor.execute(
                sql.messages_missed(),
                [[tid for tid, _ in behind], [seq for _, seq in behind], limit + 1],
            )
            raw = cursor.fetchall()
        for m in _messages_from_rows(raw):
            missed[m.thread_id].append(m)

    # Naming a thread one may not see is asked and refused: audited, like a 404.
    audit_refusals(user, where="sync", object_type=Thread._meta.label_lower, object_ids=removed)
    result = SyncResult(removed=removed)
    for t in threads:
        if t.pk in named:
            rows_for = missed.get(t.pk, [])
            result.threads.append(
                ThreadSync(thread=t, messages=rows_for[:limit], has_more=len(rows_for) > limit)
            )
        else:
            result.threads.append(ThreadSync(thread=t))
    # What was sent is what was read: the threads whose messages the client received.
    _audit_threads(user, AuditAction.READ, [t.thread for t in result.threads if t.messages])
    return result


def search(user: AnyUser, q: str) -> AuditedRows[Message]:
    """Live messages in the user's threads whose body contains `q`, newest first, folded
    alike (`messaging.fold`: ムクミ finds むくみ, ＳｐＯ２ finds SpO2, 髙橋 finds 高橋); the
    messages taken from it are audited as reads of their threads.

    Both sides go through the SQL function kizuna_fold (the stored `body_folded` and the
    query), so the text and the query fold by the same rule; the trigram index on
    body_folded serves queries of three characters or more (Japanese included).
    """
    folded_q = Func(Value(q), function="kizuna_fold", output_field=TextField())
    # The gate first, as a list of ids: planned inside the search, its many branches cost
    # more to plan (144 ms) than the search costs to run (docs/bench.md, "Search").
    visible = list(threads_visible_to(user).values_list("pk", flat=True))
    in_threads = RawSQL(sql.MESSAGE_IN_THREADS, (visible,), output_field=BooleanField())  # noqa: S611
    messages = (
        messages_base()
        .select_related("thread", "thread__patient", "thread__organization", "thread__network")
        .filter(in_threads, deleted_at__isnull=True)
        .filter(body_folded__contains=folded_q)
        .order_by("-created_at", "-id")
    )
    return AuditedRows(
        messages, lambda rows: _audit_threads(user, AuditAction.READ, [m.thread for m in rows])
    )


def unread_threads(user: User, *, limit: int = 50) -> list[Thread]:
    """The user's threads with unread messages, newest activity first, for the daily digest
    (titles and counts only: no message text leaves in it, so no read is audited)."""
    return list(_threads(user).filter(unread__gt=0)[:limit])  # type: ignore[misc]
