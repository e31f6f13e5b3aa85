"""Fixtures for messaging tests: the contact book of `net.patient`, captured events and tasks.

Every test gets its own channel-layer prefix on the real Redis, so tests of other helpers and
other runs sharing the Redis server can never deliver into our groups (user ids repeat across
test databases).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from messaging import publish, receivers, services
from messaging.models import Message, Thread
from teams.models import User


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
