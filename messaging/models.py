"""Threads, messages, their history and read state: the tables of the contact book (連絡帳).

Invariants kept by the database:
- one contact-book thread per patient (partial unique index);
- a thread is tied to exactly what its kind says: contact-book and topic threads to a patient,
  coordination threads to exactly one organization or network (check constraint);
- a message's `seq` is unique in its thread and `client_id` is unique per author, so a retried
  post can never make a second row.

`seq` is gap-free per thread: `messaging.services` takes it from `Thread.last_seq` with the
thread row locked, in the same transaction as the insert, so a rollback gives the number back.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from teams.models import Network, Organization

BODY_MAX_LENGTH = 10_000
# A body's field errors, worded the same whether the post came over the API or the socket.
BODY_REQUIRED = _("必須です。")
BODY_TOO_LONG = _("10,000文字以内で入力してください。")


class ThreadKind(models.TextChoices):
    CONTACT_BOOK = "contact_book", _("連絡帳")
    TOPIC = "topic", _("話題")
    COORDINATION = "coordination", _("連携")


class Thread(models.Model):
    kind = models.CharField(_("種類"), max_length=20, choices=ThreadKind.choices)
    title = models.CharField(_("題名"), max_length=200, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="threads"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="threads"
    )
    network = models.ForeignKey(
        Network, null=True, blank=True, on_delete=models.PROTECT, related_name="threads"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The seq of the newest message; the next post takes last_seq + 1 with this row locked.
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        verbose_name = _("スレッド")
        verbose_name_plural = _("スレッド")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(kind="contact_book"),
                name="one_contact_book_per_patient",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind__in=["contact_book", "topic"],
                        patient__isnull=False,
                        organization__isnull=True,
                        network__isnull=True,
                    )
                    | Q(
                        kind="coordination",
                        patient__isnull=True,
                        organization__isnull=False,
                        network__isnull=True,
                    )
                    | Q(
                        kind="coordination",
                        patient__isnull=True,
                        organization__isnull=True,
                        network__isnull=False,
                    )
                ),
                name="thread_scope_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="topic") | ~Q(title=""), name="topic_thread_has_title"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == ThreadKind.CONTACT_BOOK:
            return f"{_('連絡帳')}: {self.patient}"
        return self.title or f"#{self.pk}"


class MessageKind(models.TextChoices):
    NOTE = "note", _("連絡")
    VITALS = "vitals", _("バイタル")
    QUESTION = "question", _("質問")
    HANDOVER = "handover", _("申し送り")
    URGENT = "urgent", _("緊急")


class Priority(models.TextChoices):
    ROUTINE = "routine", _("通常")
    IMPORTANT = "important", _("重要")
    URGENT = "urgent", _("緊急")


class Message(models.Model):
    # No single-column indexes on thread and author: the unique constraints on (thread, seq)
    # and (author, client_id) lead with them, and every post writes each index.
    thread = models.ForeignKey(
        Thread, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    client_id = models.UUIDField()
    body = models.TextField(_("本文"), max_length=BODY_MAX_LENGTH)
    kind = models.CharField(
        _("種別"), max_length=20, choices=MessageKind.choices, default=MessageKind.NOTE
    )
    priority = models.CharField(
        _("優先度"), max_length=20, choices=Priority.choices, default=Priority.ROUTINE
    )
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in"
    )
    # Set by the service, so the thread's `last_message_at` can be the very same instant.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    # A deleted message stays as a tombstone: its place in the thread (and its seq) is kept,
    # its body is hidden from every output, and the row itself is kept for the record.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The body as search compares it (messaging.fold: NFKC, lower case, katakana to hiragana,
    # old forms to new), kept by PostgreSQL itself on every insert and edit. Stored, so a
    # search rechecks a short LIKE rather than folding each candidate again; never read by
    # the message pages (messaging.sql.MESSAGE_FIELDS leaves it out).
    body_folded = models.GeneratedField(
        expression=Func(F("body"), function="kizuna_fold", output_field=models.TextField()),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["thread_id", "seq"]
        verbose_name = _("メッセージ")
        verbose_name_plural = _("メッセージ")
        constraints = [
            models.UniqueConstraint(fields=["thread", "seq"], name="unique_seq_per_thread"),
            models.UniqueConstraint(fields=["author", "client_id"], name="unique_client_id"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
        ]
        indexes = [
            # Search, newest first: a common word is found by walking the newest messages
            # (this index) and a rare one through the trigrams (docs/bench.md, "Search").
            models.Index(F("created_at").desc(), name="message_created_desc"),
            # Search: body_folded LIKE '%' || kizuna_fold(q) || '%' (migration 0006).
            GinIndex(OpClass(F("body_folded"), name="gin_trgm_ops"), name="message_body_fold_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id}#{self.seq}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MessageRevision(models.Model):
    """The text a message had before one edit. Never updated."""

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="revisions")
    body = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # When this text was replaced.
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message_id", "id"]


class ReadState(models.Model):
    """How far a person has read a thread. `last_read_seq` only ever grows."""

    # Indexed by the constraint on (user, thread) and the index on (thread, last_read_seq).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="read_states",
        db_index=False,
    )
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="read_states", db_index=False
    )
    last_read_seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "thread"], name="one_read_state"),
        ]
        indexes = [models.Index(fields=["thread", "last_read_seq"])]


# --- requests with typed replies, and the escalation of urgent ones ------------------------


class RequestStatus(models.TextChoices):
    OPEN = "open", _("未対応")
    ANSWERED = "answered", _("応答済み")
    DECLINED = "declined", _("対応不可")
    WITHDRAWN = "withdrawn", _("取り下げ")


class ReplyKind(models.TextChoices):
    ACKNOWLEDGED = "acknowledged", _("確認しました")
    IN_PROGRESS = "in_progress", _("対応中")
    WILL_VISIT = "will_visit", _("往診します")
    WILL_CALL = "will_call", _("電話します")
    CANNOT = "cannot", _("対応できません")


class Request(models.Model):
    """A message that asks someone to do something ("please visit", "please call the family"),
    and so needs an owner and an answer (closed loop).

    Addressed to a person, or to a role on the patient's care team (`addressee_role`), which
    is resolved when it is made to the person holding it: `owner` is always who must answer.
    An urgent request escalates (`EscalationStep`): whoever the chain reaches may answer too.
    """

    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="request")
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="requests")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_requests"
    )
    # The role it was addressed to ("" when addressed to a person by name).
    addressee_role = models.CharField(_("宛先の役割"), max_length=30, blank=True)
    priority = models.CharField(
        _("優先度"), max_length=20, choices=Priority.choices, default=Priority.ROUTINE
    )
    due_at = models.DateTimeField(_("期限"), null=True, blank=True)
    status = models.CharField(
        _("状態"), max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("依頼")
        verbose_name_plural = _("依頼")
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="request_closed_iff_not_open",
            ),
        ]
        indexes = [
            models.Index(
                fields=["owner", "due_at"], condition=Q(status="open"), name="request_open_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk} ({self.status})"

    @property
    def is_overdue(self) -> bool:
        return bool(
            self.status == RequestStatus.OPEN and self.due_at and self.due_at < timezone.now()
        )


class RequestReply(models.Model):
    """A typed reply to a request: a message in the thread, linked to the request."""

    request = models.ForeignKey(Request, on_delete=models.PROTECT, related_name="replies")
    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="request_reply")
    kind = models.CharField(_("応答"), max_length=20, choices=ReplyKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A request is acknowledged once: the second acknowledgement cannot be stored.
            models.UniqueConstraint(
                fields=["request"], condition=~Q(kind="cannot"), name="one_acknowledgement"
            ),
        ]


class Tier(models.TextChoices):
    PRIMARY = "primary", _("主治医")
    SECONDARY = "secondary", _("副主治医")
    ON_CALL = "on_call", _("当番医")
    HOSPITAL = "hospital", _("後方支援病院")


class EscalationStep(models.Model):
    """One step of an urgent request's chain: whom it asks (`tier`), and when (`deadline`).

    A step is made when the one before it fires, with the deadline at which it fires if the
    request is still open then. Firing claims the row with a conditional update
    (`fired_at IS NULL`), so each step fires exactly once however many workers try.
    `recipient` is resolved when it fires (the on-call physician of that moment); a step
    with nobody to ask, or whose recipient is away, is `skipped` and the next fires at once.
    """

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    tier = models.CharField(_("段階"), max_length=20, choices=Tier.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deadline = models.DateTimeField(_("期限"))
    fired_at = models.DateTimeField(null=True, blank=True)
    skipped = models.CharField(_("飛ばした理由"), max_length=200, blank=True)
    # Re-notices while the step waits: how many were sent and when the last one was.
    renotified = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "order"], name="one_step_per_order"),
            models.UniqueConstraint(fields=["request", "tier"], name="one_step_per_tier"),
        ]
        indexes = [
            # The sweep's question: which steps are past their deadline and not fired.
            models.Index(fields=["deadline"], condition=Q(fired_at__isnull=True), name="step_due"),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id} step {self.order} ({self.tier})"
