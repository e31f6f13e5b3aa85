"""The embedded mode's beat: Celery beat's schedule run in the server's own process.

In embedded mode (`KIZUNA_EMBEDDED=1`) there is no broker, worker or beat process: tasks run
in-process when queued (`CELERY_TASK_ALWAYS_EAGER`), and this thread runs the periodic ones
(`CELERY_BEAT_SCHEDULE`: the notifications sweep, the audit seal, the escalation sweep) at
their intervals inside Daphne, so notices, retries, quiet hours and deadlines work there too.
It runs in Daphne's process because the embedded channel layer is in memory: a live event
sent from another process would reach nobody.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from celery.schedules import schedule as every
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

TICK_SECONDS = 2.0
_started = threading.Lock()
_thread: threading.Thread | None = None


def _schedules() -> dict[str, tuple[str, Any]]:
    entries: dict[str, tuple[str, Any]] = {}
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        when: Any = entry["schedule"]
        if isinstance(when, int | float):
            when = every(datetime.timedelta(seconds=when))
        entries[name] = (str(entry["task"]), when)
    return entries


def run_due(last_run: dict[str, datetime.datetime], now: datetime.datetime) -> list[str]:
    """Run every periodic task that is due (the first tick runs the interval ones at once);
    returns the names of those run."""
    from config.celery import app

    app.loader.import_default_modules()
    ran = []
    for name, (task_name, when) in _schedules().items():
        previous = last_run.get(name)
        if previous is None:
            # Interval tasks run at start-up; crontab ones wait for their time.
            due = isinstance(when, every)
            if not due:
                last_run[name] = now
                continue
        else:
            due, _next = when.is_due(previous)
        if not due:
            continue
        last_run[name] = now
        try:
            app.tasks[task_name].apply(throw=True)
            ran.append(name)
            logger.info("embedded beat: ran %s", name)
        except Exception:
            logger.exception("embedded beat: %s failed", name)
        finally:
            close_old_connections()
    return ran


def _loop(stop: threading.Event) -> None:
    last_run: dict[str, datetime.datetime] = {}
    logger.info("embedded beat: running %s periodic tasks in process", len(_schedules()))
    while not stop.wait(TICK_SECONDS):
        try:
            run_due(last_run, timezone.now())
        except Exception:
            logger.exception("embedded beat: tick failed")


def start(stop: threading.Event | None = None) -> threading.Thread | None:
    """Start the thread once per process, in embedded mode only (`KIZUNA_EMBEDDED_BEAT=0`
    turns it off)."""
    global _thread
    if not settings.EMBEDDED or not settings.KIZUNA_EMBEDDED_BEAT:
        return None
    with _started:
        if _thread is None:
            _thread = threading.Thread(
                target=_loop, args=(stop or threading.Event(),), name="kizuna-beat", daemon=True
            )
            _thread.start()
    return _thread
