"""config/beat.py: the embedded mode runs Celery beat's schedule in the server's process."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from config import beat
from notifications.models import Delivery, Notice
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _connection_kept(monkeypatch):
    # The thread closes its connection after each task; here it is the test's own.
    monkeypatch.setattr(beat, "close_old_connections", lambda: None)


def test_interval_tasks_run_at_start_and_then_at_their_interval(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "notifications-sweep": {"task": "notifications.sweep", "schedule": 30.0},
    }
    person = UserFactory()
    lost = Notice.objects.create(
        recipient=person, kind="x", key="lost", title="t", url="/",
        created_at=timezone.now() - datetime.timedelta(minutes=1),
    )  # fmt: skip
    last_run: dict[str, datetime.datetime] = {}
    now = timezone.now()
    assert beat.run_due(last_run, now) == ["notifications-sweep"]
    assert Delivery.objects.get(notice=lost).state == "sent"
    assert beat.run_due(last_run, timezone.now()) == []  # not yet: 30 s apart
    last_run["notifications-sweep"] = timezone.now() - datetime.timedelta(seconds=31)
    assert beat.run_due(last_run, timezone.now()) == ["notifications-sweep"]


def test_crontab_tasks_wait_for_their_time(settings):
    from celery.schedules import crontab

    settings.CELERY_BEAT_SCHEDULE = {
        "nightly": {"task": "audit.verify", "schedule": crontab(minute="30", hour="3")},
    }
    assert beat.run_due({}, timezone.now()) == []


def test_the_thread_starts_only_in_embedded_mode(settings):
    settings.EMBEDDED = False
    assert beat.start() is None
