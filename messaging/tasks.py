"""Celery tasks of messaging: thin, idempotent wrappers queued after commit."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from messaging import escalation
from messaging.notices import message_notices, rescue_lost


@shared_task(
    name="messaging.notify_message",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=5,
)
def notify_message(message_id: int) -> int:
    """Write the notices of a new message (idempotent: keyed by the message id); returns how
    many were new."""
    return message_notices(message_id)


@shared_task(name="messaging.notices_sweep", ignore_result=True)
def notices_sweep() -> int:
    """Every 30 s (beat): the notices of recent messages whose task was lost."""
    return rescue_lost()


@shared_task(name="messaging.fire_step", ignore_result=True)
def fire_step(step_id: int) -> bool:
    """Fire one escalation step at its deadline (once: `escalation.fire_step` claims it)."""
    return escalation.fire_step(step_id)


@shared_task(name="messaging.sweep_escalations", ignore_result=True)
def sweep_escalations() -> int:
    """Fire every step past its deadline that no task fired, and send the re-notices due.
    In embedded mode the beat thread of the server (config/beat.py) runs it."""
    return escalation.fire_due() + escalation.renotify_due()
