"""Queueing delivery of committed notices (services do not import tasks; this wires them)."""

from __future__ import annotations

import logging
from typing import Any

from notifications.signals import notice_committed
from notifications.tasks import deliver_notice

logger = logging.getLogger(__name__)


def on_notice_committed(sender: Any, *, notice_id: int, **kwargs: Any) -> None:
    try:
        deliver_notice.delay(notice_id)
    except Exception:
        # The notice is stored; the sweep delivers what the broker did not take.
        logger.exception("delivery of notice %s not queued", notice_id)


def connect() -> None:
    notice_committed.connect(on_notice_committed, dispatch_uid="kz-notice-delivery")
