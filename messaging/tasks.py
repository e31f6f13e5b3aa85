"""Celery tasks of messaging: thin, idempotent wrappers queued after commit."""

from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from messaging import escalation
from messaging.models import Message

logger = logging.getLogger(__name__)


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


_sweeper: threading.Thread | None = None


def start_embedded_sweeper() -> None:
    """Embedded mode has no beat (tasks run in-process, and a step's task runs at once,
    before its deadline): a daemon thread of the server runs the sweep on its schedule."""
    global _sweeper
    if _sweeper is not None:
        return

    def loop() -> None:
        while True:
            time.sleep(float(settings.KIZUNA_ESCALATION_SWEEP_SECONDS))
            try:
                sweep_escalations()
            except Exception:
                logger.exception("embedded escalation sweep failed")
            finally:
                close_old_connections()

    _sweeper = threading.Thread(target=loop, name="kizuna-escalation-sweep", daemon=True)
    _sweeper.start()
