"""The escalation of urgent requests (主治医 → 副主治医 → 当番医 → 後方支援病院).

An urgent request asks the patient's primary physician at once. Each step is an
`EscalationStep` row with its deadline; when a step fires it asks its recipient (a notice
through `notifications.services.notify`) and makes the next step, due after the care team's
deadline (`Patient.escalation_first_minutes` after the primary, `escalation_next_minutes`
after the others). Steps fire from a Celery task queued for their deadline and from a sweep
(Celery beat, every `KIZUNA_ESCALATION_SWEEP_SECONDS`) that fires any step whose deadline
passed without it. Firing takes the request's row lock, then claims the step with a
conditional update (`fired_at IS NULL`): each step fires once, however many workers try.

A recipient who cannot be asked (nobody holds the place, away on leave, "off duty now", the
requester themselves, asked already) is skipped and the next step fires at once. 対応できません
moves on at once; any other reply stops the chain (`messaging.requests`). While a step waits,
its recipient is notified again every `RENOTIFY_MINUTES`.

Call everything here inside `transaction.atomic` with the request's row locked, except
`fire_step`, `fire_due` and `renotify_due`, which open their own transactions.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from messaging import events, signals
from messaging.models import EscalationStep, Request, RequestStatus, Tier
from messaging.publish import publish_on_commit
from notifications.models import Urgency
from notifications.services import notify
from patients.access import active_team, can_see_patient
from patients.models import CareRole, CareWish, Patient, WishKind
from patients.services import escalation_grant_open, escalation_grants_close
from teams.models import User
from teams.rotation import networks_of_organization, on_call_at, unavailable_reason

logger = logging.getLogger(__name__)

TIERS = (Tier.PRIMARY, Tier.SECONDARY, Tier.ON_CALL, Tier.HOSPITAL)
RENOTIFY_MINUTES = 2


def renotify_every() -> dt.timedelta:
    """How often a waiting step's recipient is notified again (KIZUNA_ESCALATION_RENOTIFY_MINUTES,
    2 minutes of the escalation's clock)."""
    minutes = float(getattr(settings, "KIZUNA_ESCALATION_RENOTIFY_MINUTES", RENOTIFY_MINUTES))
    return minutes * minute()


def minute() -> dt.timedelta:
    """One minute of the escalation's clock (KIZUNA_ESCALATION_MINUTE_SECONDS: shorter in
    tests)."""
    return dt.timedelta(seconds=float(settings.KIZUNA_ESCALATION_MINUTE_SECONDS))


def wait_after(tier: str, patient: Patient) -> dt.timedelta:
    """How long the step of `tier` waits for an acknowledgement before the next fires."""
    minutes = (
        patient.escalation_first_minutes
        if tier == Tier.PRIMARY
        else patient.escalation_next_minutes
    )
    return minutes * minute()


def thread_url(request: Request) -> str:
    return reverse("patient-detail", args=[request.patient_id]) + f"#request-{request.pk}"


def start(request: Request, *, at: dt.datetime) -> None:
    """Begin the chain of a new urgent request: its first step fires now."""
    step = EscalationStep.objects.create(request=request, order=1, tier=TIERS[0], deadline=at)
    if _claim(step.pk, at):
        step.fired_at = at
        _fire_claimed(request, step, at)


def _claim(step_id: int, now: dt.datetime) -> bool:
    """The conditional update that makes a step fire once."""
    return (
        EscalationStep.objects.filter(pk=step_id, fired_at__isnull=True, deadline__lte=now).update(
            fired_at=now
        )
        == 1
    )


def fire_step(step_id: int, *, now: dt.datetime | None = None) -> bool:
    """Fire step `step_id` if its deadline has come, its request is open and no one fired it
    yet. Returns whether this call fired it. Its own transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        request_id = (
            EscalationStep.objects.filter(pk=step_id, fired_at__isnull=True)
            .values_list("request_id", flat=True)
            .first()
        )
        if request_id is None:
            return False
        # SKIP LOCKED: a request another worker is firing (or someone is answering) is left
        # to it; if that worker dies, the next sweep finds the step still due.
        request = (
            Request.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("patient", "thread", "message")
            .filter(pk=request_id)
            .first()
        )
        if request is None or request.status != RequestStatus.OPEN or not _claim(step_id, now):
            return False
        step = EscalationStep.objects.get(pk=step_id)
        step.fired_at = now
        _fire_claimed(request, step, now)
        return True


def _asked(request: Request) -> set[int]:
    return set(
        EscalationStep.objects.filter(request=request, recipient__isnull=False).values_list(
            "recipient_id", flat=True
        )
    )


def _physician(patient: Patient, role: str) -> User | None:
    place = active_team(patient).filter(role=role).select_related("user").order_by("id").first()
    return place.user if place is not None else None


def _hospital_contact(request: Request, now: dt.datetime) -> tuple[User | None, str]:
    """The contact of the hospital on the patient's latest yellow card, when it has one; else
    the contact of the network's backup hospital of the moment."""
    card = (
        CareWish.objects.filter(patient=request.patient, kind=WishKind.YELLOW)
        .select_related("hospital__emergency_contact")
        .order_by("-recorded_at", "-id")
        .first()
    )
    if card is not None and card.hospital is not None and card.hospital.emergency_contact:
        return card.hospital.emergency_contact, ""
    networks = networks_of_organization(request.patient.managing_organization_id)
    day = on_call_at([n.pk for n in networks], now)
    if day is None or day.backup_hospital is None:
        return None, _("後方支援病院が当番表にありません")
    if day.backup_hospital.emergency_contact is None:
        return None, _("後方支援病院に連絡担当者がいません")
    return day.backup_hospital.emergency_contact, ""


def _recipient(request: Request, step: EscalationStep, now: dt.datetime) -> tuple[User | None, str]:
    """Whom the step asks, or None and why it is skipped."""
    patient = request.patient
    if step.tier == Tier.PRIMARY:
        user, why = _physician(patient, CareRole.PRIMARY_PHYSICIAN), _("主治医がいません")
    elif step.tier == Tier.SECONDARY:
        user, why = _physician(patient, CareRole.SECONDARY_PHYSICIAN), _("副主治医がいません")
    elif step.tier == Tier.ON_CALL:
        networks = networks_of_organization(patient.managing_organization_id)
        day = on_call_at([n.pk for n in networks], now)
        user, why = (day.physician if day else None), _("当番医が当番表にありません")
    else:
        user, why = _hospital_contact(request, now)
    if user is None:
        return None, why
    if user.pk == request.requested_by_id:
        return None, _("依頼者本人です")
    if user.pk in _asked(request):
        return None, _("既に依頼済みです")
    away = unavailable_reason(user, now)
    if away:
        return None, away
    return user, ""


def _fire_claimed(request: Request, step: EscalationStep, now: dt.datetime) -> None:
    """Ask the recipient of a step just claimed (or skip it), and make the next step."""
    step_id, tier = step.pk, step.tier
    # Logged once committed: the fault run counts these lines to prove each step fired once.
    transaction.on_commit(lambda: logger.info("escalation step %s fired (%s)", step_id, tier))
    recipient, why = _recipient(request, step, now)
    if recipient is None:
        step.skipped = why[:200]
        step.save(update_fields=["skipped"])
        publish_on_commit(request.thread, events.escalation_step(request, step))
        following = _next_step(request, step, deadline=now)
        if following is not None and _claim(following.pk, now):
            following.fired_at = now
            _fire_claimed(request, following, now)
        elif following is None:
            _exhausted(request)
        return
    step.recipient = recipient
    step.notified_at = now
    step.save(update_fields=["recipient", "notified_at"])
    if step.tier in (Tier.ON_CALL, Tier.HOSPITAL) and not can_see_patient(
        recipient, request.patient
    ):
        escalation_grant_open(
            recipient,
            patient=request.patient,
            request_ref=request.pk,
            reason=_("緊急依頼 #%(id)d (%(tier)s)")
            % {"id": request.pk, "tier": step.get_tier_display()},
        )
    _notify_step(request, step, round_=0)
    publish_on_commit(request.thread, events.escalation_step(request, step))
    following = _next_step(request, step, deadline=now + wait_after(step.tier, request.patient))
    if following is not None:
        transaction.on_commit(
            lambda: signals.escalation_step_due.send(
                sender=EscalationStep, step_id=following.pk, deadline=following.deadline
            ),
            robust=True,
        )


def _notify_step(request: Request, step: EscalationStep, *, round_: int) -> None:
    if step.recipient_id is None:
        return
    again = _("(再通知)") if round_ else ""
    notify(
        step.recipient_id,
        kind="routing.step",
        key=f"escalation:{step.pk}:{round_}",
        title=_("緊急依頼%(again)s: %(patient)s")
        % {"again": again, "patient": request.patient.name},
        url=thread_url(request),
        body=_("%(tier)sとして対応をお願いします。") % {"tier": step.get_tier_display()},
        urgency=Urgency.URGENT,
    )


def _next_step(
    request: Request, step: EscalationStep, *, deadline: dt.datetime
) -> EscalationStep | None:
    index = TIERS.index(Tier(step.tier))
    if index + 1 >= len(TIERS):
        return None
    return EscalationStep.objects.create(
        request=request, order=step.order + 1, tier=TIERS[index + 1], deadline=deadline
    )


def _exhausted(request: Request) -> None:
    """Every step was asked or skipped: tell the requester nobody more will be asked."""
    notify(
        request.requested_by_id,
        kind="routing.exhausted",
        key=f"escalation-exhausted:{request.pk}",
        title=_("緊急依頼に対応できる人がいません: %(patient)s")
        % {"patient": request.patient.name},
        url=thread_url(request),
        urgency=Urgency.URGENT,
    )


def decline(request: Request, user: User, *, at: dt.datetime) -> None:
    """`user` answered 対応できません: their step is declined, and the next fires at once."""
    mine = (
        EscalationStep.objects.filter(request=request, recipient=user, declined_at__isnull=True)
        .order_by("-order")
        .first()
    )
    if mine is not None:
        mine.declined_at = at
        mine.save(update_fields=["declined_at"])
        publish_on_commit(request.thread, events.escalation_step(request, mine))
    pending = EscalationStep.objects.filter(request=request, fired_at__isnull=True).first()
    current = (
        EscalationStep.objects.filter(request=request, fired_at__isnull=False)
        .order_by("-order")
        .first()
    )
    if pending is None:
        if current is None or current.declined_at is not None or current.skipped:
            _exhausted(request)
        return
    if current is not None and current.declined_at is None and current.recipient_id != user.pk:
        return  # someone later in the chain is still being asked
    EscalationStep.objects.filter(pk=pending.pk).update(deadline=at)
    if _claim(pending.pk, at):
        pending.deadline = pending.fired_at = at
        _fire_claimed(request, pending, at)


def stop(request: Request, *, at: dt.datetime, acknowledged_by: User | None) -> None:
    """The request was answered or withdrawn: no step fires any more; grants end in 12 h."""
    if acknowledged_by is not None:
        mine = (
            EscalationStep.objects.filter(request=request, recipient=acknowledged_by)
            .order_by("-order")
            .first()
        )
        if mine is not None:
            mine.acknowledged_at = at
            mine.save(update_fields=["acknowledged_at"])
            publish_on_commit(request.thread, events.escalation_step(request, mine))
    EscalationStep.objects.filter(request=request, fired_at__isnull=True).delete()
    escalation_grants_close(request.pk, at=at)


# --- the sweep -------------------------------------------------------------------------------


def due_step_ids(now: dt.datetime, *, limit: int = 100) -> list[int]:
    return list(
        EscalationStep.objects.filter(
            fired_at__isnull=True, deadline__lte=now, request__status=RequestStatus.OPEN
        )
        .order_by("deadline")
        .values_list("pk", flat=True)[:limit]
    )


def fire_due(now: dt.datetime | None = None) -> int:
    """Fire the steps whose deadline passed without them (the sweep), the most overdue first,
    at most `due_step_ids`' limit per run so that one sweep never holds a worker for long (the
    next run, a second later, takes the rest). Returns how many fired."""
    now = now or timezone.now()
    fired = 0
    for step_id in due_step_ids(now):
        try:
            fired += fire_step(step_id, now=now)
        except Exception:
            logger.exception("escalation step %s not fired", step_id)
    return fired


def renotify_due(now: dt.datetime | None = None) -> int:
    """Notify again each waiting step's recipient whose last notice is `RENOTIFY_MINUTES`
    old. A step waits while its request is open, it is not declined and no later step fired.
    Each round is claimed by a conditional update and keyed, so it is sent once."""
    now = now or timezone.now()
    later = EscalationStep.objects.filter(
        request=OuterRef("request"), order__gt=OuterRef("order"), fired_at__isnull=False
    )
    waiting = (
        EscalationStep.objects.filter(
            request__status=RequestStatus.OPEN,
            recipient__isnull=False,
            declined_at__isnull=True,
            acknowledged_at__isnull=True,
            notified_at__lte=now - renotify_every(),
        )
        .exclude(Exists(later))
        .select_related("request__patient")
    )
    sent = 0
    for step in waiting[:500]:
        with transaction.atomic():
            claimed = EscalationStep.objects.filter(
                pk=step.pk, notified_at=step.notified_at
            ).update(notified_at=now, renotified=F("renotified") + 1)
            if claimed:
                _notify_step(step.request, step, round_=step.renotified + 1)
                sent += 1
    return sent
