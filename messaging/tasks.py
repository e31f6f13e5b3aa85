"""Celery tasks of messaging: thin, idempotent wrappers queued after commit."""

from __future__ import annotations

from celery import shared_task

from messaging import escalation
from messaging.models import Message


@shared_task(name="messaging.notify_message", ignore_result=True)
def notify_message(message_id: int) -> bool:
    """Hand a new message to notification delivery. Returns whether there was anything to do.

    Today it only checks the message still stands; in-app/Web Push notices will hang here.
    Running it twice does nothing twice: it writes nothing yet, and what it writes later must
    be keyed by the message id.
    """
    return Message.objects.filter(pk=message_id, deleted_at__isnull=True).exists()


@shared_task(name="messaging.fire_step", ignore_result=True)
def fire_step(step_id: int) -> bool:
    """Fire one escalation step at its deadline (once: `escalation.fire_step` claims it)."""
    return escalation.fire_step(step_id)


@shared_task(name="messaging.sweep_escalations", ignore_result=True)
def sweep_escalations() -> int:
    """Fire every step past its deadline that no task fired, and send the re-notices due."""
    return escalation.fire_due() + escalation.renotify_due()
