"""The batched group send of `messaging.layer`, against the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from django.conf import settings

from messaging.layer import KizunaRedisChannelLayer


@pytest.fixture
async def layer() -> AsyncIterator[KizunaRedisChannelLayer]:
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    layer = KizunaRedisChannelLayer(
        hosts=hosts, prefix=f"kizuna-test-{uuid.uuid4().hex[:12]}", capacity=2
    )
    yield layer
    await layer.flush()
    await layer.close_pools()


async def receive(layer: KizunaRedisChannelLayer, channel: str) -> dict | None:
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout=0.5)
    except TimeoutError:
        return None


async def test_a_channel_in_several_of_the_groups_gets_the_event_once(layer):
    nurse = await layer.new_channel()
    doctor = await layer.new_channel()
    await layer.group_add("user.1", nurse)
    await layer.group_add("user.2", nurse)
    await layer.group_add("user.2", doctor)

    dropped = await layer.group_send_many(["user.1", "user.2", "user.3"], {"type": "e", "n": 1})

    assert dropped == 0
    assert await receive(layer, nurse) == {"type": "e", "n": 1}
    assert await receive(layer, doctor) == {"type": "e", "n": 1}
    assert await receive(layer, nurse) is None


async def test_groups_nobody_joined_send_nothing(layer):
    assert await layer.group_send_many(["user.8", "user.9"], {"type": "e"}) == 0


async def test_a_full_inbox_drops_the_event_and_is_counted(layer):
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    for n in range(2):
        assert await layer.group_send_many(["user.1"], {"type": "e", "n": n}) == 0

    assert await layer.group_send_many(["user.1"], {"type": "e", "n": 2}) == 1
    assert [await receive(layer, channel) for _ in range(3)] == [
        {"type": "e", "n": 0},
        {"type": "e", "n": 1},
        None,
    ]


async def test_an_expired_group_member_is_not_sent_to(layer):
    layer.group_expiry = 1
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    await asyncio.sleep(2.1)
    await layer.group_send_many(["user.1"], {"type": "e"})
    assert await receive(layer, channel) is None
