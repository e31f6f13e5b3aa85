"""The channel layer of `messaging.layer` (Redis publish/subscribe), against the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from bench.stack import RedisServer
from messaging import metrics
from messaging.layer import LOST, KizunaPubSubLayer

URL = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("url")
pytestmark = pytest.mark.skipif(URL is None, reason="needs the Redis layer")


def new_layer(url: str | None = None, **config: Any) -> KizunaPubSubLayer:
    prefix = f"kizuna-test-{uuid.uuid4().hex[:12]}"
    return KizunaPubSubLayer(url=url or URL, prefix=prefix, **config)


@pytest.fixture
async def layer() -> AsyncIterator[KizunaPubSubLayer]:
    layer = new_layer()
    yield layer
    await layer.flush()


async def receive(layer: KizunaPubSubLayer, channel: str, timeout: float = 0.5) -> Any:
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout=timeout)
    except TimeoutError:
        return None


async def joined(layer: KizunaPubSubLayer, *groups: str) -> str:
    """A new channel in `groups`, once Redis has confirmed the subscriptions."""
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    await settle(layer)
    return channel


async def settle(layer: KizunaPubSubLayer) -> None:
    """Wait until the layer's subscriber is in place: a message published to this process
    from another connection comes back (after the subscriptions sent before it)."""
    marker = await layer.new_channel()
    other = new_layer(url=layer.url)
    other.prefix = layer.prefix
    try:
        for _ in range(30):
            await other.send(marker, {"type": "settled"})
            if await receive(layer, marker, timeout=0.1) == {"type": "settled"}:
                return
        raise AssertionError("the layer never subscribed")
    finally:
        await other.flush()


async def test_an_event_reaches_every_member_of_the_groups_and_nobody_else(layer):
    nurse = await joined(layer, "user.1")
    doctor = await joined(layer, "user.2")
    outsider = await joined(layer, "user.9")

    await layer.group_send_many(["user.1", "user.2", "user.3"], {"type": "e", "n": 1})

    assert await receive(layer, nurse) == {"type": "e", "n": 1}
    assert await receive(layer, doctor) == {"type": "e", "n": 1}
    assert await receive(layer, outsider, timeout=0.2) is None


async def test_a_member_in_another_process_receives(layer):
    elsewhere = new_layer(url=layer.url)
    elsewhere.prefix = layer.prefix  # the same deployment, another process
    nurse = await joined(elsewhere, "user.1")
    try:
        await layer.group_send_many(["user.1"], {"type": "e"})
        assert await receive(elsewhere, nurse) == {"type": "e"}
    finally:
        await elsewhere.flush()


async def test_sync_code_sends_without_an_event_loop(layer):
    nurse = await joined(layer, "user.1")
    await asyncio.to_thread(layer.group_send_many_sync, ["user.1"], {"type": "e", "n": 2})
    assert await receive(layer, nurse) == {"type": "e", "n": 2}


async def test_events_arrive_in_the_order_they_were_sent(layer):
    nurse = await joined(layer, "user.1")
    for n in range(20):
        await layer.group_send("user.1", {"type": "e", "n": n})
    assert [(await receive(layer, nurse))["n"] for _ in range(20)] == list(range(20))


async def test_a_channel_that_left_its_group_receives_nothing(layer):
    nurse = await joined(layer, "user.1")
    await layer.group_discard("user.1", nurse)
    await layer.group_send("user.1", {"type": "e"})
    assert await receive(layer, nurse, timeout=0.3) is None


@pytest.mark.django_db
async def test_a_full_inbox_drops_the_event_and_is_counted():
    layer = new_layer(capacity=2)
    try:
        channel = await joined(layer, "user.1")
        before = await database_sync_to_async(metrics.dropped_events)()
        for n in range(3):
            await layer.group_send("user.1", {"type": "e", "n": n})
        for _ in range(50):  # delivered, then counted off the event loop
            if await database_sync_to_async(metrics.dropped_events)() - before == 1:
                break
            await asyncio.sleep(0.05)
        assert await database_sync_to_async(metrics.dropped_events)() - before == 1
        assert [await receive(layer, channel) for _ in range(3)] == [
            {"type": "e", "n": 0},
            {"type": "e", "n": 1},
            None,
        ]
    finally:
        await layer.flush()


async def test_a_membership_not_refreshed_lapses_after_the_group_expiry():
    layer = new_layer(group_expiry=1)
    try:
        channel = await joined(layer, "user.1")
        await asyncio.sleep(1.2)
        await layer.group_send("user.1", {"type": "e"})
        assert await receive(layer, channel, timeout=0.3) is None
        await layer.group_add("user.1", channel)  # what the consumer does on every ping
        await layer.group_send("user.1", {"type": "e"})
        assert await receive(layer, channel) == {"type": "e"}
    finally:
        await layer.flush()


async def test_after_redis_restarts_every_inbox_hears_of_the_loss_and_events_flow_again():
    server = RedisServer()
    server.start()
    layer = new_layer(url=server.url)
    try:
        channel = await joined(layer, "user.1")
        server.kill()
        server.start()
        assert await receive(layer, channel, timeout=10) == LOST
        await settle(layer)
        await layer.group_send("user.1", {"type": "e"})
        assert await receive(layer, channel) == {"type": "e"}
    finally:
        await layer.flush()
        server.stop()


def _layer_for_database(name: str) -> KizunaPubSubLayer:
    """A layer with the default name space, made while the database is called `name`."""
    from django.db import connections

    db = connections["default"].settings_dict
    real = db["NAME"]
    db["NAME"] = name
    try:
        return KizunaPubSubLayer(url=URL)
    finally:
        db["NAME"] = real


async def test_two_deployments_on_one_redis_do_not_hear_each_other() -> None:
    """Redis pub/sub channels are shared by every database number of a server: without a
    name space per deployment, a test run and a deployment (or two deployments) on one Redis
    received each other's events for users that share an id."""
    ours, theirs = _layer_for_database("kizuna_a"), _layer_for_database("kizuna_b")
    again = _layer_for_database("kizuna_a")
    assert ours.prefix != theirs.prefix
    assert ours.prefix == again.prefix  # the same deployment, another process: one space
    try:
        mine = await joined(ours, "user.1")
        other = await joined(theirs, "user.1")
        await again.group_send("user.1", {"type": "kizuna.event", "text": "体温 38.7"})
        assert await receive(ours, mine) == {"type": "kizuna.event", "text": "体温 38.7"}
        assert await receive(theirs, other) is None
    finally:
        for layer in (ours, theirs, again):
            await layer.flush()
