"""Celery tasks of notifications: thin, idempotent, taking ids (queue `notify`).

A delivery's own retries live in the database (`Delivery.next_attempt_at`, picked up by the
sweep), never in long countdowns; the task itself retries with backoff only when the database
could not be reached.
"""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from notifications import services


@shared_task(
    name="notifications.deliver_notice",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def deliver_notice(notice_id: int) -> list[str]:
    """Plan one notice's deliveries (once) and send those due now; returns their states."""
    return services.deliver(notice_id)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Every 30 s (beat): lost notices, due retries, quiet hours that ended."""
    return services.sweep()


@shared_task(name="notifications.daily_digests", ignore_result=True)
def daily_digests() -> int:
    """Every 10 min (beat): the daily e-mail of unread threads, at each person's hour."""
    return services.daily_digests()
