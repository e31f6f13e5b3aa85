"""Celery tasks of conferences: thin and idempotent.

`send_reminders` is the beat sweep (every minute, `CELERY_BEAT_SCHEDULE`): the deadlines are
the occurrences in the database, and the notices' keys make each reminder once per
occurrence and person however often the sweep runs.
"""

from __future__ import annotations

from celery import shared_task

from conferences import services


@shared_task(name="conferences.send_reminders", ignore_result=True, acks_late=True)
def send_reminders() -> int:
    """Write the reminders that are due. Returns how many were written."""
    return services.reminders_send()
