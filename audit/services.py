"""Writing audit rows. Every read and write of patient data calls `audit_record`.

Also here: the rows of the ways in and of refusals (sign-ins, failed sign-ins, sign-outs,
403 and 404 on patient routes), and the daily check of the hash chain with its warnings
(`verify_and_report`; the chain itself is audit/chain.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.mail import mail_admins
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit import chain
from audit.context import RequestContext, current_request, request_context
from audit.models import AuditAction, AuditEvent, AuditSeal
from audit.signals import chain_broken

logger = logging.getLogger(__name__)

# Who acted, as the audit log sees it. The log sits below the apps (docs/architecture.md), so
# it names Django's user types, not teams.User: a row keeps the actor's id, or none for an
# anonymous or unknown actor.
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


def _row(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient_id: int | None,
    obj: models.Model | None,
    object_type: str,
    detail: str,
    context: RequestContext | None = None,
) -> AuditEvent:
    ctx = context or current_request.get()
    return AuditEvent(
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
        action=action,
        patient_id=patient_id,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail[:500],
        ip_address=ctx.ip_address if ctx else None,
        user_agent=ctx.user_agent if ctx else "",
    )


def audit_row(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient_id: int | None,
    object_type: str,
    detail: str = "",
) -> AuditEvent:
    """The row `audit_record` would write, unsaved: for a statement that writes the audit row
    together with the change it records (`messaging.services.message_post`)."""
    return _row(
        actor, action, patient_id=patient_id, obj=None, object_type=object_type, detail=detail
    )


def audit_record(
    actor: Actor,
    action: AuditAction | str,
    *,
    patient: models.Model | int | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    detail: str = "",
    context: RequestContext | None = None,
) -> AuditEvent:
    """Write one audit row. `context` (where the request came from) defaults to the current
    request's or socket's (`audit.context`); `object_id` to `obj`'s primary key."""
    patient_id = patient if isinstance(patient, int) or patient is None else patient.pk
    row = _row(
        actor,
        action,
        patient_id=patient_id,
        obj=obj,
        object_type=object_type,
        detail=detail,
        context=context,
    )
    if object_id:
        row.object_id = object_id[:64]
    row.save(force_insert=True)
    return row


def audit_record_many(
    actor: Actor, action: AuditAction | str, *, patient_ids: Iterable[int], object_type: str
) -> None:
    """One row per patient shown, in one query (for list pages)."""
    rows = [
        _row(actor, action, patient_id=pid, obj=None, object_type=object_type, detail="")
        for pid in patient_ids
    ]
    if rows:
        AuditEvent.objects.bulk_create(rows)


# --- the ways in ---------------------------------------------------------------------------


def _context(request: HttpRequest | None) -> RequestContext | None:
    # Django's login and logout views run inside the middleware that sets the context, but
    # authenticate() may be called from anywhere that has a request.
    return request_context(request) if request is not None else None


# A web sign-in or sign-out names no object: the actor is the one signing in. (The API's
# name their token: teams.services.token_create, token_sign_out.)


def audit_sign_in(user: Actor, request: HttpRequest | None) -> None:
    audit_record(user, AuditAction.SIGN_IN, detail="web", context=_context(request))


def audit_sign_out(user: Actor, request: HttpRequest | None) -> None:
    audit_record(user, AuditAction.SIGN_OUT, detail="web", context=_context(request))


def audit_sign_in_failed(credentials: Mapping[str, Any], request: HttpRequest | None) -> None:
    """A failed sign-in: the name tried, never the password (Django has already masked
    every secret-looking key of `credentials`; only the user name is read here). No actor:
    whoever tried is not known, whichever name they typed."""
    field = get_user_model().USERNAME_FIELD
    tried = credentials.get(field, credentials.get("username", ""))
    audit_record(
        None,
        AuditAction.SIGN_IN_FAILED,
        object_type=get_user_model()._meta.label_lower,
        detail=f"{field}={str(tried)[:150]}",
        context=_context(request),
    )


# --- refusals ------------------------------------------------------------------------------

# The URL arguments that make a route a patient route, and what each names. Routes are found
# by these names (every patient-scoped route calls its patient `patient_id`, every thread
# route its thread `thread_id`: docs/access.md), so a new route is covered as it is added.
PATIENT_KWARG = "patient_id"
OBJECT_KWARGS = {"thread_id": "messaging.thread"}
REFUSED_STATUSES = frozenset({403, 404})


def _bigint(value: Any) -> int | None:
    text = str(value)
    if text.isascii() and text.isdigit() and 0 < int(text) < 2**63:
        return int(text)
    return None


def audit_refusal(
    user: Actor,
    *,
    where: str,
    patient_id: Any = None,
    object_type: str = "",
    object_id: Any = None,
) -> None:
    """A refused answer (403 or 404, or a socket's error frame) about a patient or a thread:
    `where` says what was asked (method and path, or the socket frame), `patient_id` or
    `object_id` what it named, as sent (something that is not an id is kept as text)."""
    patient = _bigint(patient_id) if patient_id is not None else None
    named = patient_id if patient_id is not None else object_id
    audit_record(
        user,
        AuditAction.REFUSED,
        patient=patient,
        object_type="patients.patient" if patient_id is not None else object_type,
        object_id=str(named)[:64] if named is not None else "",
        detail=where,
    )


def audit_refusals(user: Actor, *, where: str, object_type: str, object_ids: Iterable[Any]) -> None:
    """One REFUSED row per object, in one query: a sync naming threads the person may not
    see (any more)."""
    rows = []
    for object_id in object_ids:
        row = _row(
            user,
            AuditAction.REFUSED,
            patient_id=None,
            obj=None,
            object_type=object_type,
            detail=where,
        )
        row.object_id = str(object_id)[:64]
        rows.append(row)
    if rows:
        AuditEvent.objects.bulk_create(rows)


def audit_refused_request(request: HttpRequest, status: int) -> None:
    """Audit a 403 or 404 answered on a patient or thread route to someone signed in (an
    anonymous request is sent to the login page before any of this). Called by the
    middleware for refused answers only, so other answers pay one comparison."""
    match = request.resolver_match
    user = getattr(request, "user", None)
    if match is None or user is None or not user.is_authenticated:
        return
    where = f"{request.method} {request.path} {status}"
    if PATIENT_KWARG in match.kwargs:
        audit_refusal(user, where=where, patient_id=match.kwargs[PATIENT_KWARG])
        return
    for kwarg, object_type in OBJECT_KWARGS.items():
        if kwarg in match.kwargs:
            audit_refusal(user, where=where, object_type=object_type, object_id=match.kwargs[kwarg])
            return


# --- the hash chain's daily check ------------------------------------------------------------


def verify_and_report() -> chain.Report:
    """Seal what can be sealed, check the whole chain, log the head hash (for anchoring
    outside the database) and, when the chain is broken, tell the administrators: an audit
    row, mail to the site's ADMINS, and `chain_broken` (teams mails the organizations'
    administrators)."""
    chain.seal()
    report = chain.verify()
    logger.info("audit chain: %s", report.summary())
    if report.unsealed_old:
        logger.warning("audit chain: %d rows are not sealed after minutes", report.unsealed_old)
    if report.broken is not None:
        logger.error("audit chain broken: %s", report.broken.message)
        audit_record(
            None,
            AuditAction.CHAIN_BROKEN,
            object_type=AuditSeal._meta.label_lower,
            object_id=str(report.broken.seq),
            detail=report.broken.message,
        )
        mail_admins(chain_broken_subject(), chain_broken_body(report))
        chain_broken.send(sender=AuditSeal, report=report)
    return report


def chain_broken_subject() -> str:
    return _("監査ログの改ざんを検知しました")


def chain_broken_body(report: chain.Report) -> str:
    broken = report.broken
    where = broken.message if broken else ""
    return "\n".join(
        [
            _("監査ログの検証で、記録の改ざんまたは削除を検知しました。"),
            _("最初に壊れている記録: %(where)s") % {"where": where},
            _("検証の結果: %(summary)s") % {"summary": report.summary()},
            _("サーバーで manage.py verify_audit を実行して確認してください。"),
        ]
    )
