"""The live socket at /ws/, through the real ASGI stack and the real Redis channel layer.

Each test connects like a browser: a session cookie and an allowed Origin, through
`config.asgi.application` (origin check, session auth, URL routing).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer  # noqa: TID251 (the test inspects the layer)
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from config.asgi import application
from messaging import metrics, publish, services
from messaging.groups import user_group
from patients.models import CareTeamMember
from teams.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def connect(user: User | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        cookie = await database_sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/", headers=headers)


async def connected(user: User) -> WebsocketCommunicator:
    comm = await connect(user)
    ok, _ = await comm.connect()
    assert ok
    return comm


async def next_event(comm: WebsocketCommunicator, timeout: float = 3) -> dict[str, Any]:
    """The next frame that is not a keepalive ping."""
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame.get("type") != "ping":
            return frame


def post_as(user: User, thread: Any, body: str = "本日訪問しました。") -> Any:
    return database_sync_to_async(services.message_post)(
        user, thread=thread.pk, client_id=uuid.uuid4(), body=body
    )


@pytest.fixture
def layer_config(settings: Any):
    """`layer_config(**config)` changes the channel layer's CONFIG for this test."""

    def change(**config: Any) -> None:
        layers = copy.deepcopy(settings.CHANNEL_LAYERS)
        layers["default"].setdefault("CONFIG", {}).update(config)
        settings.CHANNEL_LAYERS = layers

    return change


async def test_anonymous_socket_is_refused():
    comm = await connect(None)
    ok, _ = await comm.connect()
    assert not ok


async def test_socket_from_a_foreign_origin_is_refused(net):
    comm = await connect(net.nurse)
    comm.scope["headers"] = [
        (b"origin", b"https://evil.example") if k == b"origin" else (k, v)
        for k, v in comm.scope["headers"]
    ]
    ok, _ = await comm.connect()
    assert not ok


async def test_ping_gets_pong(net):
    comm = await connected(net.nurse)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


@pytest.mark.skipif(
    "InMemory" in django_settings.CHANNEL_LAYERS["default"]["BACKEND"],
    reason="the process's own layer state is messaging.layer's",
)
async def test_closed_sockets_leave_nothing_behind_in_the_layer(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    sockets = [await connected(u) for u in (net.nurse, net.nurse, net.pharmacist)]
    await post_as(net.primary, book)  # events queued for the sockets, some never read
    for comm in sockets:
        await comm.disconnect()
    local = get_channel_layer()._local()
    assert (local.inboxes, local.groups) == ({}, {})


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "resync", "threads": [1]}', "invalid_frame"),
        ('{"type": "resync", "threads": {"x": 1}}', "invalid_frame"),
        ('{"type": "resync", "threads": {"1": -5}}', "invalid_frame"),
        ('{"type": "post", "thread": "abc", "client_id": "x", "body": "x"}', "invalid_frame"),
        ('{"type": "post", "thread": {"a": 1}, "body": "x"}', "invalid_frame"),
        ('{"type": "post", "thread": 999999, "client_id": "x", "body": "x"}', "not_found"),
    ],
)
async def test_malformed_frame_gets_an_error_and_the_socket_stays_open(net, frame, code):
    comm = await connected(net.nurse)
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from()
    assert (reply["type"], reply["code"]) == ("error", code)
    assert reply["message"]
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}
    await comm.disconnect()


async def test_binary_frame_gets_an_error(net):
    comm = await connected(net.nurse)
    await comm.send_to(bytes_data=b"\x00\x01")
    reply = await comm.receive_json_from()
    assert (reply["type"], reply["code"]) == ("error", "invalid_frame")
    await comm.disconnect()


async def test_post_frame_is_acked_and_delivered_to_the_team_only(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    primary = await connected(net.primary)
    outsider = await connected(net.outsider)
    cid = str(uuid.uuid4())
    await nurse.send_json_to(
        {"type": "post", "thread": book.pk, "client_id": cid, "body": "@primary 発熱あり"}
    )
    frames = [await next_event(nurse), await next_event(nurse)]
    ack = next(f for f in frames if f["type"] == "ack")
    assert (ack["client_id"], ack["thread"], ack["seq"], ack["created"]) == (cid, book.pk, 1, True)
    assert any(f["type"] == "message.new" for f in frames)
    event = await next_event(primary)
    assert (event["type"], event["thread"], event["seq"]) == ("message.new", book.pk, 1)
    assert event["message"]["body"] == "@primary 発熱あり"
    assert event["message"]["mentions"][0]["username"] == "primary"
    assert await outsider.receive_nothing(timeout=0.5)
    for comm in (nurse, primary, outsider):
        await comm.disconnect()


async def test_a_post_over_the_socket_is_audited_with_its_address_and_user_agent(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    comm = await connect(net.nurse)
    comm.scope["headers"] = [
        *comm.scope["headers"],
        (b"user-agent", b"KizunaTablet/2.1"),
        (b"x-real-ip", b"203.0.113.7"),
    ]
    ok, _ = await comm.connect()
    assert ok
    cid = str(uuid.uuid4())
    await comm.send_json_to({"type": "post", "thread": book.pk, "client_id": cid, "body": "x"})
    while (await next_event(comm))["type"] != "ack":
        pass
    await comm.disconnect()
    row = await database_sync_to_async(
        lambda: AuditEvent.objects.get(actor=net.nurse, action=AuditAction.CREATE)
    )()
    assert (row.ip_address, row.user_agent) == ("203.0.113.7", "KizunaTablet/2.1")


async def test_post_frame_retry_is_acked_with_the_same_seq(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    frame = {"type": "post", "thread": book.pk, "client_id": str(uuid.uuid4()), "body": "x"}
    await nurse.send_json_to(frame)
    await nurse.send_json_to(frame)
    frames = [await next_event(nurse) for _ in range(3)]
    acks = [f for f in frames if f["type"] == "ack"]
    assert [a["seq"] for a in acks] == [1, 1]
    assert [a["created"] for a in acks] == [True, False]
    assert await nurse.receive_nothing(timeout=0.5)  # one message.new only
    await nurse.disconnect()


async def test_post_frame_with_bad_input_gets_field_errors(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    await nurse.send_json_to(
        {"type": "post", "thread": book.pk, "client_id": "not-a-uuid", "body": "x"}
    )
    reply = await nurse.receive_json_from()
    assert (reply["code"], reply["client_id"]) == ("invalid", "not-a-uuid")
    assert "client_id" in reply["fields"]
    await nurse.send_json_to(
        {"type": "post", "thread": book.pk, "client_id": str(uuid.uuid4()), "body": " "}
    )
    assert "body" in (await nurse.receive_json_from())["fields"]
    await nurse.disconnect()


async def test_outsider_posting_by_socket_gets_not_found(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    outsider = await connected(net.outsider)
    await outsider.send_json_to(
        {"type": "post", "thread": book.pk, "client_id": str(uuid.uuid4()), "body": "x"}
    )
    assert (await outsider.receive_json_from())["code"] == "not_found"
    await outsider.disconnect()


async def test_member_taken_off_the_team_stops_receiving_at_once(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    primary = await connected(net.primary)
    await post_as(net.primary, book, "一")
    assert (await next_event(nurse))["seq"] == 1
    await database_sync_to_async(
        CareTeamMember.objects.filter(patient=net.patient, user=net.nurse).update
    )(end_date=timezone.localdate() - dt.timedelta(days=1))
    await post_as(net.primary, book, "二")
    assert (await next_event(primary))["seq"] == 1
    assert (await next_event(primary))["seq"] == 2
    assert await nurse.receive_nothing(timeout=0.5)
    for comm in (nurse, primary):
        await comm.disconnect()


async def test_read_edit_and_delete_are_live(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    await post_as(net.nurse, book, "体温 37.8")
    primary = await connected(net.primary)
    await database_sync_to_async(services.thread_mark_read)(net.pharmacist, thread=book.pk, seq=1)
    read = await next_event(primary)
    assert (read["type"], read["seq"], read["user"]["id"]) == ("read.updated", 1, net.pharmacist.pk)
    await database_sync_to_async(services.message_edit)(
        net.nurse, thread=book.pk, seq=1, body="体温 38.7"
    )
    edited = await next_event(primary)
    assert (edited["type"], edited["message"]["body"], edited["message"]["read_by"]) == (
        "message.edited",
        "体温 38.7",
        1,
    )
    await database_sync_to_async(services.message_delete)(net.nurse, thread=book.pk, seq=1)
    deleted = await next_event(primary)
    assert (deleted["type"], deleted["seq"], deleted["message"]["body"]) == (
        "message.deleted",
        1,
        "",
    )
    await primary.disconnect()


async def test_resync_frame_returns_the_missed_messages_from_the_database(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    for body in ("一", "二", "三"):
        await post_as(net.primary, book, body)
    nurse = await connected(net.nurse)
    await nurse.send_json_to({"type": "resync", "threads": {str(book.pk): 1}})
    reply = await next_event(nurse)
    assert reply["type"] == "resync"
    entry = reply["threads"][str(book.pk)]
    assert [m["body"] for m in entry["messages"]] == ["二", "三"]
    assert (entry["last_seq"], entry["has_more"]) == (3, False)
    await nurse.disconnect()


async def test_socket_idle_longer_than_the_layers_blocking_pop_still_receives(net):
    """redis-py 8 reads with a 5 s socket timeout by default: a layer that waited for events
    through it would kill an idle socket's consumer at 5 s (channels_redis's did, until its
    hosts were given a longer `socket_timeout`). The layer's subscriber reads without one."""
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    await asyncio.sleep(6.5)
    assert not nurse.future.done(), "the consumer died while idle"
    await post_as(net.primary, book)
    event = await next_event(nurse)
    assert (event["type"], event["seq"]) == ("message.new", 1)
    await nurse.disconnect()


async def test_socket_held_past_the_group_expiry_still_receives(net, settings, layer_config):
    # The layer forgets group members after 2 s; the consumer re-joins on each 1 s ping.
    layer_config(group_expiry=2)
    settings.KIZUNA_WS_PING_SECONDS = 1
    settings.KIZUNA_WS_CYCLE_SECONDS = 60  # keep the second line (cycling) out of this test
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    nurse = await connected(net.nurse)
    pings = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + 4.5
    while loop.time() < end:
        # (A receive that times out kills the app under test, so wait on the 1 s pings.)
        assert await nurse.receive_json_from(timeout=3) == {"type": "ping"}
        pings += 1
    assert pings >= 4
    await post_as(net.primary, book)
    event = await next_event(nurse)
    assert (event["type"], event["seq"]) == ("message.new", 1)
    await nurse.disconnect()


async def test_without_refresh_the_layer_forgets_a_group_member(net, layer_config):
    # The premise of the test above: a membership not refreshed expires after group_expiry.
    layer_config(group_expiry=1)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(user_group(net.nurse.pk), channel)
    await asyncio.sleep(2.2)
    await layer.group_send(user_group(net.nurse.pk), {"type": "kizuna.event", "text": "{}"})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)


async def test_socket_is_cycled_with_code_4000_before_the_group_expires(
    net, settings, layer_config
):
    layer_config(group_expiry=3)
    settings.KIZUNA_WS_PING_SECONDS = 1
    nurse = await connected(net.nurse)
    # Derived: expiry 3 s less a margin of min(max(2 pings, 5 s), expiry / 2) = 1.5 s.
    output = None
    for _ in range(5):
        output = await nurse.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
    assert output == {"type": "websocket.close", "code": 4000}
    await nurse.disconnect()


@pytest.mark.skipif(
    "InMemory" in django_settings.CHANNEL_LAYERS["default"]["BACKEND"],
    reason="the in-memory layer drops over-capacity group sends without a trace",
)
async def test_over_capacity_channel_drops_are_counted(net, layer_config):
    layer_config(capacity=1)
    layer = get_channel_layer()
    stuck = await layer.new_channel()  # a socket that never reads
    await layer.group_add(user_group(net.nurse.pk), stuck)
    before = await database_sync_to_async(metrics.dropped_events)()
    for seq in (1, 2, 3):
        await database_sync_to_async(publish.send_to_users)([net.nurse.pk], {"seq": seq})
    for _ in range(100):  # the receiving process counts, off its event loop
        if await database_sync_to_async(metrics.dropped_events)() - before >= 2:
            break
        await asyncio.sleep(0.05)
    assert await database_sync_to_async(metrics.dropped_events)() - before == 2


async def test_channel_full_on_a_layer_without_batched_sends_is_caught_and_counted(net):
    class FullLayer:
        """A layer whose every send finds the channel full (as the in-memory layer may)."""

        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            raise ChannelFull(group)

    before = await database_sync_to_async(metrics.dropped_events)()
    await publish._send_all(FullLayer(), ["user.1", "user.2"], {"type": "kizuna.event"})
    assert await database_sync_to_async(metrics.dropped_events)() - before == 2
