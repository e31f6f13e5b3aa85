"""Real worker processes for integration tests: a Celery worker (and beat) on the test database.

Tests that need committed rows seen by another process use `transactional_db` (or the browser
tests' committed personas). `child_env` is the environment every child process gets: the test
database's URL, the test run's Redis, the project's settings module.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "browser" / "artifacts"
ALL_QUEUES = ("celery", "notify", "routing", "media")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process serving the test database (Daphne, a Celery worker)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }


def _wait_for(log: Path, needle: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited; see {log}")
        if needle in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{needle!r} not in {log} within {seconds} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def celery_worker(
    queues: Sequence[str] = ALL_QUEUES, *, beat: bool = False, name: str = "worker", **extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` (and `celery beat` when asked) on Redis and the test database,
    stopped when the block ends. Its log is tests/browser/artifacts/celery-<name>.log."""
    LOGS.mkdir(parents=True, exist_ok=True)
    env = child_env(**extra)
    celery = str(ROOT / ".venv" / "bin" / "celery")
    log_path = LOGS / f"celery-{name}.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [celery, "-A", "config", "worker", "-l", "info", "-P", "solo", "-n", f"{name}@%h",
             "-Q", ",".join(queues), "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        beat_proc = None
        try:
            _wait_for(log_path, "ready.", worker, 60)
            if beat:
                beat_log = LOGS / f"celery-{name}-beat.log"
                with open(beat_log, "wb") as blog:
                    beat_proc = subprocess.Popen(
                        [celery, "-A", "config", "beat", "-l", "info",
                         "-s", str(LOGS / f"celerybeat-{name}")],
                        cwd=ROOT, env=env, stdout=blog, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                _wait_for(beat_log, "beat: Starting", beat_proc, 60)
            yield worker
        finally:
            if beat_proc is not None:
                _stop(beat_proc)
            _stop(worker)
