"""Counters of live delivery: how many events the channel layer dropped.

The channel layer is at-most-once: an over-full inbox loses events (clients fill the gap
from the database by seq). We count every drop in the shared cache (Redis in production) under
`kizuna:ws:dropped`, so a rising number is visible across all Daphne processes.

Drops are counted where they happen: by the receiving process's layer (`messaging.layer`) when
an inbox is full, by the outbox when it is full, and by `messaging.publish` when a layer's send
raises `ChannelFull` or fails.
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
