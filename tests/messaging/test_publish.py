"""Under the server, a request hands its live events to the event loop's outbox and goes on;
the outbox sends them in the order they were published."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from messaging import publish


class SlowLayer:
    """A channel layer whose batched send takes 20 ms, recording what it sent."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def group_send_many(self, groups: list[str], message: dict[str, Any]) -> int:
        await asyncio.sleep(0.02)
        self.sent.append(json.loads(message["text"])["n"])
        return 0


@pytest.fixture
def slow_layer(monkeypatch: pytest.MonkeyPatch) -> SlowLayer:
    layer = SlowLayer()
    monkeypatch.setattr(publish, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(publish, "_server_loop", None)
    monkeypatch.setattr(publish, "_outbox", None)
    return layer


async def test_a_request_thread_does_not_wait_and_events_keep_their_order(slow_layer):
    publish.serve_on(asyncio.get_running_loop())

    def request() -> float:
        start = time.perf_counter()
        for n in range(5):
            publish.send_to_users([1, 2], {"n": n})
        return time.perf_counter() - start

    took = await asyncio.to_thread(request)
    assert took < 0.02  # five sends of 20 ms each were not waited for
    for _ in range(50):
        if len(slow_layer.sent) == 5:
            break
        await asyncio.sleep(0.02)
    assert slow_layer.sent == [0, 1, 2, 3, 4]


def test_without_a_server_loop_sending_blocks_until_done(slow_layer):
    publish.send_to_users([1], {"n": 7})
    assert slow_layer.sent == [7]


async def test_the_outbox_keeps_draining_after_a_send_fails(slow_layer, monkeypatch):
    real_send_all = publish._send_all
    failed: list[int] = []

    async def first_one_breaks(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
        if not failed:
            failed.append(1)
            raise RuntimeError("an unexpected failure in the send path")
        await real_send_all(layer, groups, message)

    monkeypatch.setattr(publish, "_send_all", first_one_breaks)
    publish.serve_on(asyncio.get_running_loop())

    def request() -> None:
        for n in range(3):
            publish.send_to_users([1], {"n": n})

    await asyncio.to_thread(request)
    for _ in range(50):
        if len(slow_layer.sent) == 2:
            break
        await asyncio.sleep(0.02)
    assert slow_layer.sent == [1, 2]
