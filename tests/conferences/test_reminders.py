"""Reminders 24 hours and 15 minutes before each occurrence, exactly once per occurrence and
person: with a real Celery worker and beat sweeping every second, and by calling the sweep
twice at once."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from conferences import services
from notifications.models import Notice
from tests.conferences.conftest import soon
from tests.workers import celery_worker

WHO = 3  # the organizer and the two invitees


def reminders(kind: str) -> list[tuple[int, str]]:
    return sorted(
        Notice.objects.filter(kind="conference.reminder", key__endswith=kind).values_list(
            "recipient_id", "key"
        )
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_remind_each_person_once(net, schedule):
    soon_one = schedule(starts_at=soon(10), title="15分前の会議")
    tomorrow = schedule(starts_at=soon(60 * 20), title="明日の会議")
    services.rsvp_answer(
        net.pharmacist, tomorrow.pk, occurrence=tomorrow.starts_at, answer="absent"
    )
    with celery_worker(
        ("notify",), beat=True, name="conference-reminders", KIZUNA_CONFERENCE_SWEEP_SECONDS="1"
    ):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(reminders("reminder-15m")) >= WHO and len(reminders("reminder-24h")) >= WHO - 1:
                break
            time.sleep(0.5)
        time.sleep(4)  # several more sweeps: none may write a second reminder
    fifteen = reminders("reminder-15m")
    day = reminders("reminder-24h")
    assert len(fifteen) == WHO
    assert {key.split(":")[1] for _uid, key in fifteen} == {str(soon_one.pk)}
    # The pharmacist answered 欠席 for tomorrow's meeting: no reminder for it.
    assert sorted(uid for uid, _key in day) == sorted([net.primary.pk, net.nurse.pk])
    assert Notice.objects.filter(kind="conference.reminder").count() == WHO + WHO - 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_write_each_reminder_once(net, schedule):
    schedule(starts_at=soon(10))
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            services.reminders_send()
        except BaseException as exc:  # the test reports it below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(reminders("reminder-15m")) == WHO


@pytest.mark.django_db
def test_a_moved_occurrence_is_reminded_at_its_new_time(net, schedule):
    conference = schedule(starts_at=soon(60 * 48))
    new = soon(10)
    services.occurrence_move(
        net.primary, conference.pk, occurrence=conference.starts_at, starts_at=new,
        ends_at=new + dt.timedelta(hours=1),
    )  # fmt: skip
    assert services.reminders_send() == WHO
    assert all(new.astimezone(dt.UTC).isoformat() in key for _u, key in reminders("15m"))
    assert services.reminders_send(timezone.now()) == 0
