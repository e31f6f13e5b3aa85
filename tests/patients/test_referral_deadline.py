"""The referral deadline: a database column and a sweep (Celery beat, every 30 s, queue
`routing`) that escalates each overdue referral once, with real workers; and the race of two
confirmations."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import Notice
from patients import referrals
from patients.models import Patient, Referral, ReferralInvitation
from patients.tasks import referral_sweep
from tests.patients.referral_fixtures import make_referral, rnet
from tests.workers import LOGS, celery_worker

__all__ = ["rnet"]


def _overdue(rnet, **overrides):
    referral = make_referral(rnet, **overrides)
    Referral.objects.filter(pk=referral.pk).update(
        deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    return referral


def _escalations(referral):
    return AuditEvent.objects.filter(
        object_type__icontains="referral",
        object_id=str(referral.pk),
        detail__startswith="escalated",
    ).count()


def test_the_sweep_is_on_the_beat_every_30_seconds_on_the_routing_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["referral-sweep"]
    assert (entry["task"], entry["schedule"]) == ("patients.referral_sweep", 30.0)
    assert settings.CELERY_TASK_ROUTES["patients.referral_sweep"] == {"queue": "routing"}


def test_an_overdue_referral_is_escalated_once_widened_and_the_coordinator_told(rnet):
    referral = _overdue(rnet)
    assert referrals.referral_escalate_due() == [referral.pk]
    assert referrals.referral_escalate_due() == []
    referral.refresh_from_db()
    assert referral.escalated_at is not None
    assert _escalations(referral) == 1
    assert ReferralInvitation.objects.filter(referral=referral, physician=rnet.far).exists()
    notices = Notice.objects.filter(kind="referral.escalated")
    assert [n.recipient for n in notices] == [rnet.net.coordinator]
    assert Notice.objects.filter(recipient=rnet.far, kind="referral.invited").exists()


def test_a_referral_with_a_hand_raised_for_the_primary_is_not_escalated(rnet):
    referral = _overdue(rnet)
    referrals.referral_answer(rnet.net.primary, referral.pk, answer="either")
    assert referrals.referral_escalate_due() == []


def test_a_referral_not_yet_due_is_not_escalated(rnet):
    make_referral(rnet)
    assert referrals.referral_escalate_due() == []


def test_in_the_embedded_mode_opening_the_board_escalates_the_overdue(rnet, client, settings):
    # No beat runs in the embedded mode: the pages sweep instead.
    settings.EMBEDDED = True
    referral = _overdue(rnet)
    client.force_login(rnet.net.coordinator)
    assert client.get(reverse("referral-board")).status_code == 200
    referral.refresh_from_db()
    assert referral.escalated_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_real_workers_sweeping_at_once_escalate_once(rnet):
    referral = _overdue(rnet)
    with (
        celery_worker(("routing",), name="referral-a"),
        celery_worker(("routing",), name="referral-b"),
    ):
        for _ in range(6):
            referral_sweep.apply_async(queue="routing")
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 6:
            time.sleep(0.3)
            done = sum(
                (LOGS / f"celery-referral-{n}.log").read_text().count("succeeded") for n in "ab"
            )
    assert done == 6
    referral.refresh_from_db()
    assert referral.escalated_at is not None
    assert Notice.objects.filter(kind="referral.escalated").count() == 1
    assert _escalations(referral) == 1
    assert ReferralInvitation.objects.filter(referral=referral, physician=rnet.far).count() == 1


@pytest.mark.django_db(transaction=True)
def test_celery_beat_and_a_worker_escalate_an_overdue_referral(rnet):
    referral = _overdue(rnet)
    # The sweep's interval is an environment setting; 1 s here so the test need not wait 30.
    with celery_worker(
        ("routing",), beat=True, name="referral-beat", KIZUNA_REFERRAL_SWEEP_SECONDS="1"
    ):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            referral.refresh_from_db()
            if referral.escalated_at is not None:
                break
            time.sleep(0.5)
    assert referral.escalated_at is not None
    assert (
        Notice.objects.filter(kind="referral.escalated", recipient=rnet.net.coordinator).count()
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_once_decide_once_and_the_other_is_told(rnet, monkeypatch):
    net = rnet.net
    referral = make_referral(rnet)
    referrals.referral_answer(net.primary, referral.pk, answer="primary")
    referrals.referral_answer(rnet.third, referral.pk, answer="either")
    # Hold the lock a while inside each confirmation, so the two surely overlap.
    original = referrals._home_organization

    def slow(physician, network_id):
        time.sleep(0.3)
        return original(physician, network_id)

    monkeypatch.setattr(referrals, "_home_organization", slow)
    start = threading.Barrier(2)
    results: list[str] = []

    def confirm(primary):
        try:
            start.wait()
            referrals.referral_confirm(net.coordinator, referral.pk, primary_id=primary.pk)
            results.append("decided")
        except referrals.ReferralConflict:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(p,)) for p in (net.primary, rnet.third)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["conflict", "decided"]
    assert Patient.objects.filter(name="青木 ミツ").count() == 1
    referral.refresh_from_db()
    assert referral.patient is not None
