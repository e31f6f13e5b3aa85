"""What `make run` prints: each log line once, whichever logger writes it.

Django's default logging gives the "django" logger a console handler of its own; beside the
root's handler of config/settings.py, that printed every Django line twice. The check runs in
a fresh interpreter, set up as a server process is, with DEBUG on as in development.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.deploy.dev_scripts import BASE_DIR

LOGGERS = ["django.request", "django.security.csrf", "django", "messaging.publish", "celery"]

SCRIPT = f"""
import logging
import django

django.setup()
for name in {LOGGERS!r}:
    logging.getLogger(name).warning("line from %s", name)
"""


def test_every_log_line_is_printed_once():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    for name in LOGGERS:
        assert lines.count(f"line from {name}") == 1, lines
