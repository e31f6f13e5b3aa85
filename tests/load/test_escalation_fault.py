"""Fault test of the escalation (issue 13, item 8): 1,000 urgent requests with deadlines of
seconds, walked by two real Celery workers and beat on a private Redis, while one worker is
killed (SIGKILL) and restarted twice and Redis is killed and restarted (empty) once.

The requests are written in bulk as `request_create` leaves them (the primary asked, the
secondary's step due), their secondary deadlines spread over `SPREAD` seconds, and each
step's task queued with its countdown as `messaging.receivers` does: what is measured is the
firing, not the posting (tests/messaging covers that). Each chain is primary → secondary →
on-call → hospital, so 3,000 steps fire in the workers, each making the next.

Recorded: how late each fired after its deadline (p50/p99/max), steps fired twice
(each fire is logged once committed; the logs of every worker life are counted), steps never
fired. docs/bench.md keeps the figures ("Escalation under faults").
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import statistics
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from bench.stack import RedisServer
from config.celery import app as celery_app
from messaging import services
from messaging.models import (
    EscalationStep,
    Message,
    MessageKind,
    Priority,
    Request,
    Thread,
    Tier,
)
from messaging.tasks import fire_step
from patients.models import CareRole
from teams.models import OnCallDay, OrganizationKind, Profession
from tests.factories import (
    CareTeamMemberFactory,
    ConsentFactory,
    MembershipFactory,
    NetworkFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)
from tests.workers import ROOT, child_env

REQUESTS = 1_000
PATIENTS = 20
MINUTE = 0.3  # seconds: each 10-minute deadline is 3 s
SWEEP = 1.0  # seconds between beat's sweeps
LEAD = 8.0  # seconds from the start of the clock to the first secondary deadline
SPREAD = 90.0  # seconds over which the 1,000 secondary deadlines fall
FIRED = "escalation step "


def _team() -> list[Any]:
    clinic = OrganizationFactory(name=f"負荷クリニック-{uuid.uuid4().hex[:6]}")
    hospital = OrganizationFactory(
        name=f"負荷病院-{uuid.uuid4().hex[:6]}", kind=OrganizationKind.HOSPITAL
    )
    network = NetworkFactory(name=f"負荷ネットワーク-{uuid.uuid4().hex[:6]}")
    network.organizations.add(clinic, hospital)

    def person(name: str, profession: str = Profession.PHYSICIAN, org: Any = clinic) -> Any:
        user = UserFactory(username=f"{name}-{uuid.uuid4().hex[:6]}", profession=profession)
        MembershipFactory(user=user, organization=org)
        return user

    primary, secondary, night = person("primary"), person("secondary"), person("night")
    nurse = person("nurse", Profession.NURSE)
    desk = person("desk", Profession.NURSE, hospital)
    hospital.emergency_contact = desk
    hospital.save()
    today = timezone.localdate()
    for day in (today - dt.timedelta(1), today):
        OnCallDay.objects.create(
            network=network, date=day, physician=night, backup_hospital=hospital
        )
    threads = []
    for i in range(PATIENTS):
        patient = PatientFactory(name=f"負荷 患者{i}", managing_organization=clinic)
        ConsentFactory(patient=patient, recorded_by=primary)
        for user, role in (
            (primary, CareRole.PRIMARY_PHYSICIAN),
            (secondary, CareRole.SECONDARY_PHYSICIAN),
            (nurse, CareRole.VISITING_NURSE),
        ):
            CareTeamMemberFactory(patient=patient, user=user, role=role, organization=clinic)
        patient.escalation_first_minutes = patient.escalation_next_minutes = 10
        patient.save()
        threads.append(services.contact_book_ensure(patient))
    return [nurse, primary, threads]


class Worker:
    """One `celery worker` whose every life logs to its own file."""

    def __init__(self, name: str, env: dict[str, str], logs: Path) -> None:
        self.name, self.env, self.logs = name, env, logs
        self.lives = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.lives += 1
        log = open(self.logs / f"{self.name}-{self.lives}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker", "-l", "info",
             "-P", "threads", "-c", "4", "-n", f"{self.name}-{self.lives}@%h",
             "-Q", "routing,notify",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _bulk_requests(nurse: Any, primary: Any, threads: list[Thread], t0: dt.datetime) -> list[int]:
    """The requests as `request_create` leaves them, written in bulk: each a message, the
    primary's step fired at `t0`, the secondary's due between LEAD and LEAD + SPREAD."""
    messages = []
    for i in range(REQUESTS):
        thread = threads[i % PATIENTS]
        thread.last_seq += 1
        messages.append(
            Message(
                thread=thread,
                seq=thread.last_seq,
                author=nurse,
                client_id=uuid.uuid4(),
                body=f"緊急 {i}",
                kind=MessageKind.URGENT,
                priority=Priority.URGENT,
                created_at=t0,
            )
        )
    Message.objects.bulk_create(messages)
    for thread in threads:
        Thread.objects.filter(pk=thread.pk).update(last_seq=thread.last_seq, last_message_at=t0)
    made = Request.objects.bulk_create(
        Request(
            message=m,
            thread_id=m.thread_id,
            patient_id=m.thread.patient_id,
            requested_by=nurse,
            owner=primary,
            addressee_role=CareRole.PRIMARY_PHYSICIAN,
            priority=Priority.URGENT,
            created_at=t0,
        )
        for m in messages
    )
    steps = []
    for i, request in enumerate(made):
        due = t0 + dt.timedelta(seconds=LEAD + SPREAD * i / REQUESTS)
        steps.append(EscalationStep(request=request, order=1, tier=Tier.PRIMARY, recipient=primary,
                                    deadline=t0, fired_at=t0, notified_at=t0))  # fmt: skip
        steps.append(EscalationStep(request=request, order=2, tier=Tier.SECONDARY, deadline=due))
    EscalationStep.objects.bulk_create(steps)
    return [r.pk for r in made]


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_every_step_fires_once_near_its_deadline_through_worker_and_redis_crashes(
    settings: Any, tmp_path: Path
) -> None:
    redis = RedisServer(log_path=tmp_path / "redis.log")
    redis.start()
    # The test process queues the secondary steps' tasks: on the private Redis.
    old_broker = celery_app.conf.broker_url
    celery_app.conf.broker_url = redis.url
    celery_app._pool = None
    env = child_env(
        REDIS_URL=redis.url,
        CELERY_BROKER_URL=redis.url,
        KIZUNA_ESCALATION_MINUTE_SECONDS=str(MINUTE),
        KIZUNA_ESCALATION_SWEEP_SECONDS=str(SWEEP),
        # Re-notices every 2 minutes would be one notice per waiting request per 0.6 s:
        # they are tested elsewhere; here they would only load the run.
        KIZUNA_ESCALATION_RENOTIFY_MINUTES="1000",
    )
    workers = [Worker(n, env, tmp_path) for n in ("a", "b")]
    beat = None
    faults: dict[str, float] = {}
    try:
        nurse, primary, threads = _team()
        for w in workers:
            w.start()
        beat = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "beat", "-l", "info",
             "-s", str(tmp_path / "celerybeat")],
            cwd=ROOT, env=env, stdout=open(tmp_path / "beat.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        time.sleep(5)  # the workers and beat come up
        t0_wall = timezone.now()
        t0 = time.monotonic()
        ids = _bulk_requests(nurse, primary, threads, t0_wall)
        for step_id, due in EscalationStep.objects.filter(
            request_id__in=ids, fired_at__isnull=True
        ).values_list("pk", "deadline"):
            countdown = max(0.0, (due - timezone.now()).total_seconds())
            fire_step.apply_async((step_id,), countdown=countdown)
        queued_in = time.monotonic() - t0
        plan = [(10, "worker_killed_1"), (13, "worker_restarted_1"), (30, "worker_killed_2"),
                (33, "worker_restarted_2"), (50, "redis_restarted")]  # fmt: skip
        # The steps' own deadlines end by LEAD + SPREAD + 6 s; the rest is room for a host
        # slower than the demand (the figures say how late the steps were).
        end = t0 + LEAD + SPREAD + 6 * MINUTE * 10 + 240
        while time.monotonic() < end:
            while plan and time.monotonic() - t0 >= plan[0][0]:
                _, what = plan.pop(0)
                if what.startswith("worker_killed"):
                    workers[0].kill()
                elif what.startswith("worker_restarted"):
                    workers[0].start()
                else:
                    redis.kill()
                    redis.start()
                faults[what] = round(time.monotonic() - t0, 1)
            if not plan:
                fired = EscalationStep.objects.filter(
                    request_id__in=ids, fired_at__isnull=False
                ).count()
                if fired == 4 * REQUESTS:
                    break
            time.sleep(0.5)
        time.sleep(2 * SWEEP)  # any late duplicate would show in the logs by now
        walked_in = time.monotonic() - t0
    finally:
        for w in workers:
            w.stop()
        if beat is not None and beat.poll() is None:
            beat.terminate()
            beat.wait(timeout=15)
        redis.stop()
        celery_app.conf.broker_url = old_broker
        celery_app._pool = None

    steps = list(
        EscalationStep.objects.filter(request_id__in=ids).values_list(
            "pk", "order", "deadline", "fired_at"
        )
    )
    never = [pk for pk, _o, _d, fired in steps if fired is None]
    late = [
        (fired - due).total_seconds() for _pk, order, due, fired in steps if order > 1 and fired
    ]
    lines = [
        line
        for log in sorted(tmp_path.glob("[ab]-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if FIRED in line and " fired (" in line
    ]
    counts = Counter(line.split(FIRED, 1)[1].split(" ", 1)[0] for line in lines)
    twice = {step: n for step, n in counts.items() if n > 1}
    report = {
        "requests": len(ids),
        "steps_fired_in_workers": len(late),
        "lateness_p50_s": round(statistics.median(late), 3) if late else None,
        "lateness_p99_s": round(_percentile(late, 0.99), 3) if late else None,
        "lateness_max_s": round(max(late), 3) if late else None,
        "fired_twice": len(twice),
        "never_fired": len(never),
        "queued_in_s": round(queued_in, 1),
        "walked_in_s": round(walked_in, 1),
        "faults_at_s": faults,
        "worker_lives": [w.lives for w in workers],
    }
    print(f"\nescalation fault run: {report}")
    (ROOT / "tests" / "browser" / "artifacts").mkdir(parents=True, exist_ok=True)
    (ROOT / "tests" / "browser" / "artifacts" / "escalation-fault.txt").write_text(str(report))
    assert len(ids) == REQUESTS
    assert len(steps) == 4 * REQUESTS
    assert never == []
    assert twice == {}
    assert set(faults) == {"worker_killed_1", "worker_restarted_1", "worker_killed_2",
                           "worker_restarted_2", "redis_restarted"}  # fmt: skip
    # Every step fired: a fired step's log line may be lost only to a SIGKILL between the
    # commit and the line, never doubled.
    assert len(counts) >= 3 * REQUESTS - 10
