"""Fixtures for messaging tests: the contact book of `net.patient`, captured events and tasks.

Every test gets its own channel-layer prefix on the real Redis, so tests of other helpers and
other runs sharing the Redis server can never deliver into our groups (user ids repeat across
test databases).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from messaging import publish, receivers, requests, services
from messaging.models import Message, Request, Thread
from teams.models import Network, OnCallDay, OrganizationKind, Profession, User
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def isolated_channel_layer(settings: Any) -> None:
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    config = layers["default"].setdefault("CONFIG", {})
    if "url" in config:
        config["prefix"] = f"kizuna-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers


@dataclass
class QueuedTasks:
    notify: list[int]


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch: pytest.MonkeyPatch) -> QueuedTasks:
    """Celery calls are recorded, not sent to a broker."""
    queued = QueuedTasks(notify=[])

    class FakeTask:
        @staticmethod
        def delay(message_id: int) -> None:
            queued.notify.append(message_id)

    monkeypatch.setattr(receivers, "notify_message", FakeTask)
    return queued


@dataclass
class Sent:
    user_ids: list[int]
    event: dict[str, Any]


@pytest.fixture
def sent_events(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Live events as (recipients, payload), instead of the channel layer."""
    sent: list[Sent] = []

    def record(user_ids: Any, event: dict[str, Any]) -> None:
        sent.append(Sent(user_ids=sorted(user_ids), event=event))

    monkeypatch.setattr(publish, "send_to_users", record)
    return sent


@pytest.fixture
def book(net: Any) -> Thread:
    return services.contact_book_ensure(net.patient)


@pytest.fixture
def post() -> Callable[..., Message]:
    """`post(user, thread, body, **kwargs)` posts through the service with a fresh client_id."""

    def do(user: User, thread: Thread, body: str = "本日訪問しました。", **kwargs: Any) -> Message:
        kwargs.setdefault("client_id", uuid.uuid4())
        return services.message_post(user, thread=thread.pk, body=body, **kwargs).message

    return do


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with on_commit(): ...` runs the after-commit callbacks of the block."""

    def ctx() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return ctx


# --- requests and their escalation ------------------------------------------------------


@pytest.fixture(autouse=True)
def queued_steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """Steps queued for their deadline, as (step id, countdown), not sent to a broker."""
    queued: list[tuple[int, float]] = []

    class FakeTask:
        @staticmethod
        def apply_async(args: tuple[int], countdown: float) -> None:
            queued.append((args[0], countdown))

    monkeypatch.setattr(receivers, "fire_step", FakeTask)
    return queued


@pytest.fixture
def ask() -> Callable[..., Request]:
    """`ask(user, thread, body, **kwargs)` makes a request with a fresh client_id."""

    def do(user: User, thread: Thread, body: str = "往診をお願いします", **kwargs: Any) -> Request:
        kwargs.setdefault("client_id", uuid.uuid4())
        return requests.request_create(user, thread=thread.pk, body=body, **kwargs)

    return do


@pytest.fixture
def on_call(net: Any) -> Any:
    """The network's on-call physician (not on the patient's team) for today and yesterday,
    and its backup hospital with a contact."""
    network = Network.objects.get(name="中央区在宅ネットワーク")
    night = OrganizationFactory(name="夜間診療所", kind=OrganizationKind.CLINIC)
    hospital = OrganizationFactory(name="中央総合病院", kind=OrganizationKind.HOSPITAL)
    network.organizations.add(night, hospital)
    doctor = UserFactory(
        username="oncall", display_name="当番 一郎", profession=Profession.PHYSICIAN
    )
    MembershipFactory(user=doctor, organization=night)
    desk = UserFactory(username="desk", display_name="病院 連携", profession=Profession.NURSE)
    MembershipFactory(user=desk, organization=hospital)
    hospital.emergency_contact = desk
    hospital.save()
    today = timezone.localdate()
    for day in (today - dt.timedelta(1), today):
        OnCallDay.objects.create(
            network=network, date=day, physician=doctor, backup_hospital=hospital
        )

    class OnCall:
        pass

    out = OnCall()
    out.network, out.doctor, out.hospital, out.desk = network, doctor, hospital, desk
    return out
