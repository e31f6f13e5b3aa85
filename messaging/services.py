"""Every change of state in messaging: one function per use case.

Each takes the acting user first (except `contact_book_ensure`, which the patient's creation
calls), checks access through the thread gate (posting, opening a topic and changing one's
message need `Capability.POST`; marking read needs only `READ`), writes in one transaction
with its audit row, and publishes live events and Celery work only after commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record, audit_row
from config.errors import DomainError, NotFound
from media import services as media_services
from messaging import events, signals, sql
from messaging.access import (
    access_thread,
    refuse_thread,
    thread_audience_sql,
    thread_condition_named,
    thread_member_ids,
    thread_pk,
)
from messaging.mentions import parse_mentions
from messaging.models import (
    BODY_MAX_LENGTH,
    BODY_REQUIRED,
    BODY_TOO_LONG,
    Message,
    MessageKind,
    MessageRevision,
    Priority,
    Thread,
    ThreadKind,
)
from messaging.publish import publish_on_commit
from messaging.selectors import attach_read_by, parse_seq
from patients.access import Capability, access_patient
from patients.models import BreakGlassGrant, Patient
from teams.models import Membership, Network, User

logger = logging.getLogger(__name__)

TITLE_MAX_LENGTH = 200

# --- threads -----------------------------------------------------------------------------


def _gated(user: User, thread: Thread | int, *, capability: Capability) -> Thread:
    """The thread to act on: `thread` itself when it is a `Thread` (the caller got it from
    `access_thread` with the same capability for this user, so the gate runs once per
    request), else the thread of that id through the gate."""
    if isinstance(thread, Thread):
        return thread
    return access_thread(user, thread, capability=capability)


def contact_book_ensure(patient: Patient) -> Thread:
    """The patient's contact-book thread, made if missing. Safe to call twice at once."""
    thread = Thread.objects.filter(kind=ThreadKind.CONTACT_BOOK, patient=patient).first()
    if thread is not None:
        return thread
    try:
        with transaction.atomic():
            return Thread.objects.create(kind=ThreadKind.CONTACT_BOOK, patient=patient)
    except IntegrityError:
        # Another request made it between our look and our insert.
        return Thread.objects.get(kind=ThreadKind.CONTACT_BOOK, patient=patient)


def _clean_title(title: Any) -> str:
    text = str(title or "").strip()
    if not text:
        raise DomainError(_("題名を入力してください。"), fields={"title": [_("必須です。")]})
    if len(text) > TITLE_MAX_LENGTH or "\x00" in text:
        raise DomainError(
            _("題名が不正です。"), fields={"title": [_("200文字以内で入力してください。")]}
        )
    return text


def thread_create_topic(user: User, *, patient_id: Any, title: str) -> Thread:
    """A topic thread (wound care, discharge planning, …) on a patient the user may post
    about."""
    patient = access_patient(user, patient_id, capability=Capability.POST)
    clean = _clean_title(title)
    with transaction.atomic():
        thread = Thread.objects.create(
            kind=ThreadKind.TOPIC, patient=patient, title=clean, created_by=user
        )
        audit_record(user, AuditAction.CREATE, patient=patient, obj=thread, detail=clean)
    return thread


def thread_create_coordination(
    user: User,
    *,
    title: str,
    organization_id: int | None = None,
    network_id: int | None = None,
) -> Thread:
    """A thread of an organization or a network, not tied to a patient.

    Only an active member of the organization (or, for a network, of one of its organizations,
    or its coordinator) may open one; anyone else gets `NotFound`, as for a thread.
    """
    if (organization_id is None) == (network_id is None):
        raise DomainError(
            _("組織かネットワークのどちらか一方を指定してください。"),
            fields={"organization": [_("どちらか一方を指定してください。")]},
        )
    clean = _clean_title(title)
    memberships = Membership.objects.filter(user=user, is_active=True)
    if organization_id is not None:
        if not user.is_active or not memberships.filter(organization_id=organization_id).exists():
            raise NotFound
    elif network_id is not None:
        network = Network.objects.filter(pk=network_id).first()
        allowed = network is not None and (
            network.coordinators.filter(pk=user.pk).exists()
            or memberships.filter(organization__networks=network).exists()
        )
        if not user.is_active or not allowed:
            raise NotFound
    with transaction.atomic():
        thread = Thread.objects.create(
            kind=ThreadKind.COORDINATION,
            organization_id=organization_id,
            network_id=network_id,
            title=clean,
            created_by=user,
        )
        audit_record(user, AuditAction.CREATE, obj=thread, detail=clean)
    return thread


# --- messages ----------------------------------------------------------------------------


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise DomainError(_("本文が不正です。"), fields={"body": [_("文字列で入力してください。")]})
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise DomainError(_("本文を入力してください。"), fields={"body": [BODY_REQUIRED]})
    if len(text) > BODY_MAX_LENGTH:
        raise DomainError(
            _("本文が長すぎます。"),
            fields={"body": [BODY_TOO_LONG]},
        )
    if "\x00" in text:
        raise DomainError(
            _("本文が不正です。"), fields={"body": [_("使用できない文字が含まれています。")]}
        )
    return text


def _choice(value: Any, choices: type[models.TextChoices], field: str, default: str) -> str:
    if value is None or value == "":
        return default
    if value not in choices.values:
        raise DomainError(_("入力が不正です。"), fields={field: [_("選択肢にない値です。")]})
    return str(value)


def _resolve_mentions(thread: Thread, body: str) -> list[User]:
    """The users mentioned in `body`; each must be a current member of the thread."""
    names = parse_mentions(body)
    if not names:
        return []
    members = {
        u.username: u
        for u in User.objects.filter(pk__in=thread_member_ids(thread), username__in=names)
    }
    missing = [n for n in names if n not in members]
    if missing:
        where = _("この患者のケアチーム") if thread.patient_id else _("このスレッドの参加者")
        raise DomainError(
            _("メンションできない相手が含まれています。"),
            fields={
                "body": [
                    _("@%(name)s は%(where)sにいません。") % {"name": n, "where": where}
                    for n in missing
                ]
            },
        )
    return [members[n] for n in names]


def _reply_target(thread: Thread, reply_to_seq: Any) -> Message | None:
    if reply_to_seq is None:
        return None
    try:
        seq = int(reply_to_seq)
    except (TypeError, ValueError):
        seq = 0
    target = Message.objects.filter(thread=thread, seq=seq).first() if seq > 0 else None
    if target is None:
        raise DomainError(
            _("返信先が見つかりません。"),
            fields={"reply_to": [_("同じスレッドのメッセージを指定してください。")]},
        )
    return target


@dataclass(frozen=True)
class PostResult:
    message: Message
    created: bool  # False: a retry of an earlier post, which is returned unchanged


def _earlier_post(user: User, client_id: uuid.UUID, thread: Thread) -> PostResult | None:
    message = (
        Message.objects.select_related("author", "reply_to")
        .filter(author=user, client_id=client_id)
        .first()
    )
    if message is None:
        return None
    if message.thread_id != thread.pk:
        raise DomainError(
            _("この client_id は別のスレッドで使われています。"),
            fields={"client_id": [_("新しいUUIDを指定してください。")]},
        )
    attach_read_by([message])
    return PostResult(message=message, created=False)


def _advance_read(user: User, thread: Thread, seq: int) -> int:
    """Move the user's read mark in `thread` up to `seq` (never back). Returns the old mark.

    One statement: the read state row is locked, so two marks cannot interleave, and made if
    missing.
    """
    params: dict[str, int | dt.datetime] = {
        "author": user.pk,
        "thread": thread.pk,
        "seq": seq,
        "at": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.advance_read(), params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


class Inserted(NamedTuple):
    thread: Thread
    message: Message | None  # None: this author had already used the client_id
    previous_read: int  # the author's read mark before the post
    members: list[int] | None  # who receives the events (patient threads), read in the statement


@dataclass(frozen=True)
class CheckedPost:
    """A post that passed every check (`check_post`, or `_check_plain_post`): what `do_post`
    writes, trusted as it is.

    `thread` is the gated thread, or None when the gate is to run inside the post statement
    (a plain post by id: nothing in it needs the thread before the write).
    """

    thread_pk: int
    thread: Thread | None
    client_id: uuid.UUID
    text: str
    kind: str
    priority: str
    reply_to: Message | None = None
    mentions: tuple[User, ...] = ()
    attachments: tuple[uuid.UUID, ...] = ()  # photos to attach, checked, in order


def check_client_id(client_id: Any) -> uuid.UUID:
    """A post's client-made key, or `DomainError`."""
    if isinstance(client_id, uuid.UUID):
        return client_id
    if not isinstance(client_id, str):
        raise _bad_client_id()
    try:
        return uuid.UUID(client_id)
    except ValueError:
        raise _bad_client_id() from None


def _bad_client_id() -> DomainError:
    return DomainError(
        _("client_id が不正です。"),
        fields={"client_id": [_("client_id はUUIDで指定してください。")]},
    )


def _check_content(body: Any, kind: Any, priority: Any) -> tuple[str, str, str]:
    """A post's text, kind and priority, checked; an urgent kind is urgent priority unless
    the caller says otherwise."""
    text = _clean_body(body)
    kind_value = _choice(kind, MessageKind, "kind", MessageKind.NOTE)
    default_priority = Priority.URGENT if kind_value == MessageKind.URGENT else Priority.ROUTINE
    return text, kind_value, _choice(priority, Priority, "priority", default_priority)


def check_post(
    user: User,
    thread: Thread,
    *,
    client_id: Any,
    body: Any,
    kind: Any = MessageKind.NOTE,
    priority: Any = None,
    reply_to_seq: Any = None,
    attachments: Any = None,
) -> CheckedPost:
    """Check a post to `thread`, which the caller got from `access_thread(capability=POST)`:
    its key, text, kind and priority, that everyone it @mentions is in the thread, that its
    reply target is a message of the thread, and that its photos may be attached to it
    (`media.services.check_attachable`). Raises `DomainError` with field errors."""
    cid = check_client_id(client_id)
    text, kind_value, priority_value = _check_content(body, kind, priority)
    return CheckedPost(
        thread_pk=thread.pk,
        thread=thread,
        client_id=cid,
        text=text,
        kind=kind_value,
        priority=priority_value,
        reply_to=_reply_target(thread, reply_to_seq),
        mentions=tuple(_resolve_mentions(thread, text)),
        attachments=tuple(
            media_services.check_attachable(user, attachments, patient_id=thread.patient_id)
        ),
    )


def _check_plain_post(
    thread_id: Any, client_id: Any, body: Any, kind: Any, priority: Any
) -> CheckedPost | None:
    """The post as checked, with the gate left to the statement, when nothing in it needs
    the thread (no reply, no @mention) and all of it is valid; else None."""
    try:
        cid = check_client_id(client_id)
        text, kind_value, priority_value = _check_content(body, kind, priority)
    except DomainError:
        return None
    if parse_mentions(text):
        return None
    return CheckedPost(thread_pk(thread_id), None, cid, text, kind_value, priority_value)


def message_post(
    user: User,
    *,
    thread: Thread | int,
    client_id: Any,
    body: Any,
    kind: Any = MessageKind.NOTE,
    priority: Any = None,
    reply_to_seq: Any = None,
    attachments: Any = None,
) -> PostResult:
    """Post a message, or return the earlier one if this `client_id` was already posted.

    `thread`: a `Thread` the caller got from `access_thread(capability=POST)`, or a thread
    id. A plain post by id (no @mention, no reply: nothing to check against the thread) runs
    the gate inside the post statement, one round trip in all. Otherwise, and whenever the
    input is wrong, the gate runs first, so someone who may not see the thread learns
    nothing from validation errors.

    A retry (same author and `client_id`) gets the original back: the unique constraint
    refuses its second row, and a retry whose input no longer passes (it mentions someone who
    has since left the team, its photos are attached already: to the first post) is looked up
    before its error is raised.

    `attachments`: ids of photos the user uploaded for this patient (`media`), at most ten.
    """
    if not isinstance(thread, Thread) and reply_to_seq is None and not attachments:
        plain = _check_plain_post(thread, client_id, body, kind, priority)
        if plain is not None:
            if not user.is_authenticated or not user.is_active:
                raise NotFound
            return do_post(user, plain)
    gated = _gated(user, thread, capability=Capability.POST)
    try:
        checked = check_post(
            user,
            gated,
            client_id=client_id,
            body=body,
            kind=kind,
            priority=priority,
            reply_to_seq=reply_to_seq,
            attachments=attachments,
        )
    except DomainError:
        earlier = _earlier_post(user, check_client_id(client_id), gated)
        if earlier is not None:
            return earlier
        raise
    return do_post(user, checked)


def do_post(user: User, post: CheckedPost) -> PostResult:
    """Write a checked post (`check_post`), or find the earlier one of its `client_id`.

    The message takes the thread's next seq with the thread row locked, so seqs have no gaps
    (a rollback undoes both the insert and `last_seq`). It is read by its author at once.
    One statement is its own transaction; with mentions or photos to write, all share one: a
    photo that cannot be attached any more (a concurrent post took it) undoes the post.
    """
    several = bool(post.mentions or post.attachments)
    with transaction.atomic() if several else contextlib.nullcontext():
        inserted = _insert_post(user, post, at=timezone.now())
        if inserted is None:
            # No such thread (any more), or not one this user may post in: which, is asked
            # only now, so a post that passes pays for one gate, in its statement.
            refuse_thread(user, post.thread_pk, Capability.POST)
        return _posted(user, post, inserted)


def _insert_post(user: User, post: CheckedPost, *, at: dt.datetime) -> Inserted | None:
    """Run `sql.post`, with the gate in the statement when `post.thread` is None. None when
    there is no such thread (for this user)."""
    row = audit_row(
        user,
        AuditAction.CREATE,
        patient_id=None,  # the statement takes it from the thread row
        object_type=Message._meta.label_lower,
        detail=f"thread={post.thread_pk} seq=",
    )
    gate, gate_params = (
        thread_condition_named(user, Capability.POST) if post.thread is None else ("", {})
    )
    audience, audience_params = thread_audience_sql("SELECT patient_id FROM locked")
    params = {
        "thread": post.thread_pk,
        "author": user.pk,
        "client_id": post.client_id,
        "body": post.text,
        "kind": post.kind,
        "priority": post.priority,
        "reply_to": post.reply_to.pk if post.reply_to is not None else None,
        "at": at,
        "actor": row.actor_id,
        "action": row.action,
        "object_type": row.object_type,
        "detail": row.detail,
        "ip": row.ip_address,
        "user_agent": row.user_agent,
        **audience_params,
        **gate_params,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.post(gate, audience), params)
        found = cursor.fetchone()
    if found is None:
        return None
    fields = Thread._meta.concrete_fields
    thread = post.thread
    if thread is None:
        thread = Thread.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], found[: len(fields)])
    message_id, seq, previous_read, members = found[len(fields) :]
    if message_id is None:
        return Inserted(thread, None, int(previous_read), None)
    reply_to = post.reply_to
    message = Message.from_db(
        DEFAULT_DB_ALIAS,
        [f.attname for f in sql.MESSAGE_FIELDS],
        [
            message_id,
            thread.pk,
            seq,
            user.pk,
            post.client_id,
            post.text,
            post.kind,
            post.priority,
            reply_to.pk if reply_to is not None else None,
            at,
            None,
            None,
        ],
    )
    Message.thread.field.set_cached_value(message, thread)
    Message.author.field.set_cached_value(message, user)
    Message.reply_to.field.set_cached_value(message, reply_to)
    thread.last_seq, thread.last_message_at = seq, at
    return Inserted(thread, message, int(previous_read), members if thread.patient_id else None)


def _posted(user: User, post: CheckedPost, inserted: Inserted) -> PostResult:
    """After the post statement: the earlier post for a retry; else the mentions, and the
    events and the announcement after the commit."""
    thread, message = inserted.thread, inserted.message
    if message is None:
        # This author already used the client_id: a retry (here or on another thread).
        earlier = _earlier_post(user, post.client_id, thread)
        if earlier is None:
            raise NotFound
        return earlier
    mentions = list(post.mentions)
    if mentions:
        Message.mentions.through.objects.bulk_create(
            Message.mentions.through(message=message, user=u) for u in mentions
        )
    photos: list[Any] = []
    if post.attachments and thread.patient_id is not None:
        photos = media_services.attach(
            user, message_id=message.pk, patient_id=thread.patient_id, ids=post.attachments
        )
    message.attachment_list = photos  # type: ignore[attr-defined]
    # The event and the answer render the mentions from here, without a query.
    message.mentioned_users = mentions  # type: ignore[attr-defined]
    message.read_by = 0  # type: ignore[attr-defined]
    publish_on_commit(thread, events.message_new(message), members=inserted.members)
    if inserted.previous_read < message.seq - 1:
        # The author skipped over others' unread messages: their read counts changed.
        publish_on_commit(
            thread,
            events.read_updated(thread_id=thread.pk, user=user, seq=message.seq),
            members=inserted.members,
        )
    transaction.on_commit(
        lambda: signals.message_posted.send(sender=Message, message=message), robust=True
    )
    return PostResult(message=message, created=True)


def needs_notice(message: Message) -> bool:
    """Whether a new message is handed to notification delivery (`messaging.receivers`).

    Every live message is: routine ones to the members who want routine notices, mentions as
    important, urgent messages as urgent (`messaging.notices`, on the worker). The post itself
    only queues one task, whatever the team's size.
    """
    return message.deleted_at is None


def _own_message_locked(user: User, thread: Thread, seq: Any) -> Message:
    """The message `seq` of `thread`, locked; only its author may change it. Call in `atomic`."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("author", "reply_to")
        .filter(thread=thread, seq=parse_seq(seq))
        .first()
    )
    if message is None:
        raise NotFound
    if message.author_id != user.pk:
        raise PermissionDenied(_("自分のメッセージだけを変更できます。"))
    if message.is_deleted:
        raise DomainError(
            _("削除されたメッセージは変更できません。"),
            fields={"body": [_("削除済みです。")]},
        )
    return message


def message_edit(user: User, *, thread: Thread | int, seq: Any, body: Any) -> Message:
    """Change the text of one's own message. The old text is kept as a `MessageRevision`."""
    thread = _gated(user, thread, capability=Capability.POST)
    text = _clean_body(body)
    mentions = _resolve_mentions(thread, text)
    with transaction.atomic():
        message = _own_message_locked(user, thread, seq)
        if text == message.body:
            attach_read_by([message])
            return message
        MessageRevision.objects.create(message=message, body=message.body, edited_by=user)
        message.body = text
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "edited_at"])
        message.mentions.set(mentions)
        message.mentioned_users = mentions  # type: ignore[attr-defined]
        audit_record(
            user,
            AuditAction.UPDATE,
            patient=thread.patient_id,
            obj=message,
            detail=f"thread={thread.pk} seq={message.seq}",
        )
        attach_read_by([message])
        publish_on_commit(thread, events.message_edited(message))
    return message


def message_delete(user: User, *, thread: Thread | int, seq: Any) -> Message:
    """Delete one's own message, leaving a tombstone: its seq stays, its text is hidden."""
    thread = _gated(user, thread, capability=Capability.POST)
    with transaction.atomic():
        message = _own_message_locked(user, thread, seq)
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
        audit_record(
            user,
            AuditAction.DELETE,
            patient=thread.patient_id,
            obj=message,
            detail=f"thread={thread.pk} seq={message.seq}",
        )
        attach_read_by([message])
        publish_on_commit(thread, events.message_deleted(message))
    return message


# --- read state --------------------------------------------------------------------------


def thread_mark_read(user: User, *, thread: Thread | int, seq: Any) -> int:
    """Mark the thread read up to `seq` (capped at its last message). Returns the read mark.

    The mark never moves backwards: a late, smaller mark from another device changes nothing.
    """
    # Only READ: the read mark is the reader's own state, a break-glass reader's too.
    thread = _gated(user, thread, capability=Capability.READ)
    try:
        wanted = int(seq)
    except (TypeError, ValueError):
        wanted = -1
    if wanted < 0:
        raise DomainError(_("seq が不正です。"), fields={"seq": [_("0以上の整数です。")]})
    with transaction.atomic():
        last_seq = Thread.objects.filter(pk=thread.pk).values_list("last_seq", flat=True).get()
        target = min(wanted, last_seq)
        previous = _advance_read(user, thread, target)
        if target > previous:
            publish_on_commit(
                thread, events.read_updated(thread_id=thread.pk, user=user, seq=target)
            )
    return max(target, previous)


# --- reactions to patients' changes (called from messaging.receivers) --------------------


def announce_break_glass(grant: BreakGlassGrant) -> PostResult:
    """Tell the patient's care team in the contact book that someone broke the glass.

    Called inside the grant's transaction; the post publishes to the team after commit.
    The holder may not post themselves (`patients.access.POLICY`): this notice is the only
    message in their name.
    The reason is the grant holder's own text: its "@" is neutralised so that it cannot
    mention (or fail to mention) anyone.
    """
    until = timezone.localtime(grant.expires_at).strftime("%Y-%m-%d %H:%M")
    body = _(
        "【緊急アクセス】%(user)sさんがこの患者の記録を緊急に参照しています"
        "(%(until)sまで)。理由: %(reason)s"
    ) % {
        "user": grant.user,
        "until": until,
        "reason": grant.reason.replace("@", "＠"),
    }
    # The notice is the system's, in the holder's name: past the post gate, which a
    # break-glass reader does not pass (they read and do not post), so `do_post` trusts it.
    thread = contact_book_ensure(grant.patient)
    text, kind, priority = _check_content(body, MessageKind.NOTE, Priority.IMPORTANT)
    return do_post(grant.user, CheckedPost(thread.pk, thread, uuid.uuid4(), text, kind, priority))


def announce_referral(patient: Patient, *, author: User, text: str) -> PostResult:
    """Open the contact book of a patient who came by a referral with its summary
    (`patients.referrals.referral_confirm`), in the name of `author`, who is on the team.

    Called inside the confirmation's transaction, right after the contact book is made, so
    the summary is its first message; the post publishes to the team after commit.
    """
    thread = contact_book_ensure(patient)
    body, kind, priority = _check_content(
        text.replace("@", "＠"), MessageKind.NOTE, Priority.ROUTINE
    )
    return do_post(author, CheckedPost(thread.pk, thread, uuid.uuid4(), body, kind, priority))
