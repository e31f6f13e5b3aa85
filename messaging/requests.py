"""Requests with typed replies (closed loop): every "please visit", "please call the family"
in a thread gets an owner and an answer.

`request_create` posts the message and its `Request` in one transaction; an urgent request
starts its escalation chain there too (`messaging.escalation`). `request_reply` posts a typed
reply (確認しました / 対応中 / 往診します / 電話します / 対応できません, plus text) as a message
linked to the request; `request_withdraw` takes it back. Everything is checked before
anything is written: a bad request writes nothing.

Who may answer: the owner, and whoever the urgent chain has asked. A request is answered
once (`RequestReply`'s partial unique constraint holds it even against a race); 対応できません
on an urgent request moves the chain on and leaves it open.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.reads import AuditedRows, audit_patients
from audit.services import audit_record
from config.errors import DomainError, Forbidden, NotFound
from messaging import escalation, events
from messaging.access import access_thread, thread_member_ids, threads_visible_to
from messaging.models import (
    EscalationStep,
    MessageKind,
    Priority,
    ReplyKind,
    Request,
    RequestReply,
    RequestStatus,
    Thread,
)
from messaging.publish import publish_on_commit
from messaging.services import check_client_id, check_post, do_post
from notifications.models import Urgency
from notifications.services import notify
from patients.access import Capability, active_team
from patients.models import CareRole
from teams.models import User

# The roles a request may be addressed to (the list).
REQUEST_ROLES = (
    CareRole.PRIMARY_PHYSICIAN,
    CareRole.SECONDARY_PHYSICIAN,
    CareRole.VISITING_NURSE,
    CareRole.PHARMACIST,
    CareRole.CARE_MANAGER,
)

_URGENCY = {
    Priority.ROUTINE: Urgency.ROUTINE,
    Priority.IMPORTANT: Urgency.IMPORTANT,
    Priority.URGENT: Urgency.URGENT,
}


def _invalid(field: str, message: str, detail: str) -> DomainError:
    return DomainError(message, fields={field: [detail]})


def _with_chain(qs: QuerySet[Request]) -> QuerySet[Request]:
    return qs.select_related(
        "message", "requested_by", "owner", "answered_by", "patient"
    ).prefetch_related("replies__author", "replies__message", "steps__recipient")


def request_reload(request_id: int) -> Request:
    return _with_chain(Request.objects.all()).get(pk=request_id)


def _owner(thread: Thread, *, to_user: Any, to_role: Any) -> tuple[User, str]:
    """The person who must answer, from a person or a role of the care team, who must be a
    member of the thread now."""
    if (to_user in (None, "")) == (to_role in (None, "")):
        raise _invalid(
            "to_user",
            _("宛先を指定してください。"),
            _("宛先の人か役割のどちらか一方を指定してください。"),
        )
    members = set(thread_member_ids(thread))
    if to_role not in (None, ""):
        if to_role not in REQUEST_ROLES:
            raise _invalid("to_role", _("宛先の役割が不正です。"), _("選択肢にない値です。"))
        place = (
            active_team(thread.patient_id or 0)
            .filter(role=to_role, user_id__in=members, user__is_active=True)
            .select_related("user")
            .order_by("id")
            .first()
        )
        if place is None:
            raise _invalid(
                "to_role",
                _("この役割の担当者がいません。"),
                _("「%(role)s」はこの患者のケアチームにいません。")
                % {"role": CareRole(to_role).label},
            )
        return place.user, str(to_role)
    try:
        pk = int(to_user)
    except (TypeError, ValueError):
        pk = 0
    user = User.objects.filter(pk=pk, is_active=True).first() if pk in members else None
    if user is None:
        raise _invalid(
            "to_user", _("宛先が不正です。"), _("この患者のケアチームの人を指定してください。")
        )
    return user, ""


def _due(value: Any, now: dt.datetime) -> dt.datetime | None:
    if value in (None, ""):
        return None
    due = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    if due is None:
        raise _invalid("due_at", _("期限が不正です。"), _("日時の形式が正しくありません。"))
    if timezone.is_naive(due):
        due = timezone.make_aware(due)
    if due <= now:
        raise _invalid("due_at", _("期限が過去です。"), _("現在より後の日時を指定してください。"))
    return due


def request_create(
    user: User,
    *,
    thread: Thread | int,
    client_id: Any,
    body: Any,
    to_user: Any = None,
    to_role: Any = None,
    priority: Any = None,
    due_at: Any = None,
) -> Request:
    """Post a request in a patient's thread. A retry with the same `client_id` returns the
    request already made. An urgent request goes to the primary physician unless addressed
    otherwise, and starts its chain."""
    gated = (
        thread
        if isinstance(thread, Thread)
        else access_thread(user, thread, capability=Capability.POST)
    )
    if gated.patient_id is None:
        raise _invalid(
            "thread", _("依頼は患者のスレッドで行います。"), _("患者のスレッドではありません。")
        )
    cid = check_client_id(client_id)
    earlier = Request.objects.filter(message__author=user, message__client_id=cid).first()
    if earlier is not None:
        return request_reload(earlier.pk)
    now = timezone.now()
    prio = str(priority or Priority.ROUTINE)
    if prio not in Priority.values:
        raise _invalid("priority", _("入力が不正です。"), _("選択肢にない値です。"))
    if prio == Priority.URGENT and to_user in (None, "") and to_role in (None, ""):
        to_role = CareRole.PRIMARY_PHYSICIAN
    owner, role = _owner(gated, to_user=to_user, to_role=to_role)
    due = _due(due_at, now)
    kind = MessageKind.URGENT if prio == Priority.URGENT else MessageKind.QUESTION
    checked = check_post(user, gated, client_id=cid, body=body, kind=kind, priority=prio)
    with transaction.atomic():
        posted = do_post(user, checked)
        request = Request.objects.create(
            message=posted.message,
            thread=gated,
            patient_id=gated.patient_id,
            requested_by=user,
            owner=owner,
            addressee_role=role,
            priority=prio,
            due_at=due,
            created_at=now,
        )
        audit_record(
            user,
            AuditAction.CREATE,
            patient=gated.patient_id,
            obj=request,
            detail=f"thread={gated.pk} seq={posted.message.seq} owner={owner.pk}",
        )
        if prio == Priority.URGENT:
            escalation.start(request, at=now)
        # An urgent request's notices are its chain's (an away owner is skipped there).
        if owner.pk != user.pk and prio != Priority.URGENT:
            notify(
                owner.pk,
                kind="request.new",
                key=f"request:{request.pk}",
                title=_("依頼: %(patient)s") % {"patient": str(gated.patient or "")},
                url=_url(request),
                body=checked.text[:200],
                urgency=_URGENCY[Priority(prio)],
            )
        request = request_reload(request.pk)
        publish_on_commit(gated, events.request_updated(request))
    return request


def _url(request: Request) -> str:
    return reverse("patient-detail", args=[request.patient_id]) + f"#request-{request.pk}"


def _locked(user: User, request_id: Any) -> tuple[Request, Thread]:
    """The request, its row locked, reached through its thread's post gate. Call in atomic."""
    try:
        pk = int(request_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if isinstance(request_id, bool) or not 0 < pk < 2**63:
        raise NotFound
    thread_id = Request.objects.filter(pk=pk).values_list("thread_id", flat=True).first()
    if thread_id is None:
        raise NotFound
    thread = access_thread(user, thread_id, capability=Capability.POST)
    request = (
        Request.objects.select_for_update(of=("self",))
        .select_related("message", "patient")
        .get(pk=pk)
    )
    return request, thread


def _may_answer(user: User, request: Request) -> bool:
    if request.owner_id == user.pk:
        return True
    return EscalationStep.objects.filter(
        request=request, recipient=user, fired_at__isnull=False
    ).exists()


@dataclass(frozen=True)
class Replied:
    request: Request
    reply: RequestReply
    created: bool


def request_reply(
    user: User, *, request_id: Any, kind: Any, client_id: Any, body: Any = ""
) -> Replied:
    """Answer a request with a typed reply (and optional text), posted in its thread as a
    reply to it. `Forbidden` for someone it was not asked of; `DomainError` when it is no
    longer open (answered, withdrawn) or the kind is unknown. A retry with the same
    `client_id` returns the reply already made."""
    if kind not in ReplyKind.values:
        raise _invalid("kind", _("応答の種類が不正です。"), _("選択肢にない値です。"))
    cid = check_client_id(client_id)
    text = body.strip() if isinstance(body, str) else ""
    if body not in (None, "") and not isinstance(body, str):
        raise _invalid("body", _("本文が不正です。"), _("文字列で入力してください。"))
    label = ReplyKind(kind).label
    full = f"【{label}】" + (f"\n{text}" if text else "")
    now = timezone.now()
    try:
        with transaction.atomic():
            request, thread = _locked(user, request_id)
            earlier = RequestReply.objects.filter(
                request=request, author=user, message__client_id=cid
            ).first()
            if earlier is not None:
                return Replied(request_reload(request.pk), earlier, False)
            if not _may_answer(user, request):
                raise Forbidden(_("この依頼に応答できるのは依頼の宛先の人です。"))
            if request.status != RequestStatus.OPEN:
                raise _invalid(
                    "kind",
                    _("この依頼は既に締め切られています。"),
                    _("「%(status)s」の依頼には応答できません。")
                    % {"status": request.get_status_display()},
                )
            checked = check_post(
                user, thread, client_id=cid, body=full, kind=MessageKind.NOTE,
                priority=Priority.ROUTINE, reply_to_seq=request.message.seq,
            )  # fmt: skip
            posted = do_post(user, checked)
            reply = RequestReply.objects.create(
                request=request, message=posted.message, kind=kind, author=user, created_at=now
            )
            urgent = request.priority == Priority.URGENT
            if kind == ReplyKind.CANNOT and urgent:
                escalation.decline(request, user, at=now)
            else:
                request.status = (
                    RequestStatus.DECLINED if kind == ReplyKind.CANNOT else RequestStatus.ANSWERED
                )
                request.closed_at = now
                request.answered_by = user
                request.save(update_fields=["status", "closed_at", "answered_by"])
                if urgent:
                    escalation.stop(request, at=now, acknowledged_by=user)
            audit_record(
                user, AuditAction.UPDATE, patient=request.patient_id, obj=request,
                detail=f"reply={kind}",
            )  # fmt: skip
            if request.requested_by_id != user.pk:
                notify(
                    request.requested_by_id,
                    kind="request.reply",
                    key=f"request-reply:{reply.pk}",
                    title=_("%(user)s: %(label)s") % {"user": str(user), "label": label},
                    url=_url(request),
                    body=text[:200],
                    urgency=_URGENCY[Priority(request.priority)],
                )
            fresh = request_reload(request.pk)
            publish_on_commit(thread, events.request_updated(fresh))
            return Replied(fresh, reply, True)
    except IntegrityError:
        # Another reply acknowledged it between our check and our insert.
        raise _invalid(
            "kind", _("この依頼は既に応答済みです。"), _("応答は一度だけです。")
        ) from None


def request_withdraw(user: User, *, request_id: Any) -> Request:
    """The requester takes an open request back; its chain stops."""
    now = timezone.now()
    with transaction.atomic():
        request, thread = _locked(user, request_id)
        if request.requested_by_id != user.pk:
            raise Forbidden(_("依頼を取り下げられるのは依頼した人です。"))
        if request.status != RequestStatus.OPEN:
            raise _invalid(
                "status", _("この依頼は既に締め切られています。"), _("取り下げられません。")
            )
        request.status = RequestStatus.WITHDRAWN
        request.closed_at = now
        request.save(update_fields=["status", "closed_at"])
        if request.priority == Priority.URGENT:
            escalation.stop(request, at=now, acknowledged_by=None)
        audit_record(user, AuditAction.UPDATE, patient=request.patient_id, obj=request,
                     detail="withdrawn")  # fmt: skip
        fresh = request_reload(request.pk)
        publish_on_commit(thread, events.request_updated(fresh))
    return fresh


# --- reads ---------------------------------------------------------------------------------


def open_requests_for(user: User) -> AuditedRows[Request]:
    """The open requests the user must answer (owner, or asked by an urgent chain and not
    declined), in threads they may see: oldest due first, then oldest made. Audited per
    patient shown."""
    asked = EscalationStep.objects.filter(
        recipient=user, fired_at__isnull=False, declined_at__isnull=True
    ).values("request_id")
    qs = _with_chain(
        Request.objects.filter(status=RequestStatus.OPEN)
        .filter(Q(owner=user) | Q(pk__in=asked))
        .filter(thread__in=threads_visible_to(user))
    ).order_by(
        # Nulls last: a request with no due time after every dated one.
        F("due_at").asc(nulls_last=True),
        "created_at",
        "id",
    )
    return AuditedRows(
        qs,
        lambda rows: audit_patients(
            user,
            AuditAction.LIST,
            patient_ids=[r.patient_id for r in rows],
            object_type="messaging.request",
        ),
    )


def thread_requests(user: User, thread: Thread) -> list[Request]:
    """A thread's requests (any state), newest first: the caller passed the thread's gate."""
    return list(_with_chain(Request.objects.filter(thread=thread)).order_by("-id")[:50])


def new_client_id() -> uuid.UUID:
    return uuid.uuid4()
