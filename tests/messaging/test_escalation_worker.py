"""The whole chain with a real Celery worker and beat on Redis and the test database: the
secondary is asked after the (shortened) deadline, once, and an answer stops the chain."""

from __future__ import annotations

import time
import uuid

import pytest

from messaging import requests
from messaging.models import EscalationStep, Tier
from notifications.models import Notice
from tests.workers import celery_worker

MINUTE = 0.2  # seconds: the team's 10-minute deadline is 2 s


@pytest.fixture
def queued_steps() -> None:
    """The real queue: the steps' tasks go to the worker through Redis."""


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_walk_the_chain_and_an_answer_stops_it(net, book, settings):
    settings.KIZUNA_ESCALATION_MINUTE_SECONDS = MINUTE
    env = {"KIZUNA_ESCALATION_MINUTE_SECONDS": str(MINUTE), "KIZUNA_ESCALATION_SWEEP_SECONDS": "1"}
    with celery_worker(("routing", "notify"), beat=True, name="routing-chain", **env):
        request = requests.request_create(
            net.nurse,
            thread=book.pk,
            client_id=uuid.uuid4(),
            body="呼吸が苦しそうです",
            priority="urgent",
        )
        second = EscalationStep.objects.get(request=request, tier=Tier.SECONDARY)
        assert _wait(
            lambda: EscalationStep.objects.filter(pk=second.pk, fired_at__isnull=False).exists(),
            20,
        )
        second.refresh_from_db()
        assert second.recipient == net.secondary
        # Fired by the step's own task at its deadline, or at worst by the next sweep.
        assert second.fired_at is not None
        assert 0 <= (second.fired_at - second.deadline).total_seconds() < 1.5
        requests.request_reply(
            net.secondary, request_id=request.pk, kind="will_visit", client_id=uuid.uuid4()
        )
        time.sleep(4)  # past the next deadline (2 s) and a few sweeps (1 s)
    steps = list(EscalationStep.objects.filter(request=request).order_by("order"))
    assert [s.tier for s in steps] == [Tier.PRIMARY, Tier.SECONDARY]
    assert steps[1].acknowledged_at is not None
    assert Notice.objects.filter(recipient=net.secondary, kind="routing.step").count() == 1
