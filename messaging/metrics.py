"""Counters of live delivery: how many events the channel layer dropped.

The channel layer is at-most-once: an over-full channel loses events (clients fill the gap
from the database by seq). We count every drop in the shared cache (Redis in production) under
`kizuna:ws:dropped`, so a rising number is visible across all Daphne processes.

Drops reach us two ways: `ChannelFull` raised by a layer's send, and channels_redis's
`group_send`, which skips over-capacity channels and only logs
"%s of %s channels over capacity in group %s"; a logging handler counts those.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

DROPPED_KEY = "kizuna:ws:dropped"
_REDIS_LOGGER = "channels_redis.core"
_OVER_CAPACITY_PREFIX = "%s of %s channels over capacity"


def count_dropped(n: int = 1) -> None:
    """Add `n` dropped events to the shared counter. Never raises: metrics must not break sends."""
    try:
        cache.add(DROPPED_KEY, 0, timeout=None)
        cache.incr(DROPPED_KEY, n)
    except Exception:
        logger.exception("could not count %s dropped live events", n)


def dropped_events() -> int:
    """How many live events were dropped since the counter was created."""
    try:
        return int(cache.get(DROPPED_KEY, 0))
    except Exception:
        logger.exception("could not read the dropped-events counter")
        return 0


class OverCapacityCounter(logging.Handler):
    """Counts the channels that channels_redis's group_send skipped for being full."""

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.msg, str) or not record.msg.startswith(_OVER_CAPACITY_PREFIX):
            return
        try:
            n = int(str(record.args[0])) if isinstance(record.args, tuple) and record.args else 1
        except (TypeError, ValueError):
            n = 1
        count_dropped(n)


def install_over_capacity_counter() -> None:
    """Attach the counter to channels_redis's logger once (called from the app's `ready`)."""
    redis_logger = logging.getLogger(_REDIS_LOGGER)
    if any(isinstance(h, OverCapacityCounter) for h in redis_logger.handlers):
        return
    redis_logger.addHandler(OverCapacityCounter(level=logging.INFO))
    # The message is logged at INFO: make sure it is created even when the root level is higher.
    if redis_logger.getEffectiveLevel() > logging.INFO:
        redis_logger.setLevel(logging.INFO)
