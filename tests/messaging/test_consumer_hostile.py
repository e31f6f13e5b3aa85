"""Hostile frames on the live socket: each gets an `error` frame and the socket stays open.

Before, a frame nested a few thousand levels deep raised `RecursionError` in the frame
decoding, which nothing caught: the socket closed with code 1011.
"""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async

from messaging import services
from messaging.models import Message
from tests.messaging.test_consumer import connected

pytestmark = pytest.mark.django_db(transaction=True)


async def _answers_ping(comm) -> None:
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "invalid_frame"),  # past Python's recursion limit
        ('{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}", "invalid_frame"),  # past 32
        ('{"type": "resync", "threads": {"1": 99999999999999999999}}', "invalid_frame"),
        ('{"type": "resync", "threads": {"99999999999999999999": 1}}', "invalid_frame"),
        ('{"type": "ping", "x": NaN}', "invalid_json"),
    ],
)
async def test_hostile_frame_gets_an_error_frame_and_the_socket_answers_a_ping(net, frame, code):
    comm = await connected(net.nurse)
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"]) == ("error", code)
    assert reply["message"]
    await _answers_ping(comm)
    await comm.disconnect()


async def test_frame_larger_than_the_limit_is_refused(net, settings):
    settings.KIZUNA_JSON_MAX_BYTES = 1000
    comm = await connected(net.nurse)
    await comm.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 2000}))
    reply = await comm.receive_json_from()
    assert (reply["type"], reply["code"]) == ("error", "invalid_frame")
    await _answers_ping(comm)
    await comm.disconnect()


@pytest.mark.parametrize("text", ["a\\u0000b", "a\\ud800b"])
async def test_nul_or_lone_surrogate_in_a_post_is_a_field_error_and_nothing_is_stored(net, text):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    comm = await connected(net.nurse)
    cid = str(uuid.uuid4())
    frame = f'{{"type": "post", "thread": {book.pk}, "client_id": "{cid}", "body": "{text}"}}'
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from()
    assert (reply["type"], reply["code"]) == ("error", "invalid_frame")
    assert list(reply["fields"]) == ["body"]
    assert not await database_sync_to_async(Message.objects.filter(client_id=cid).exists)()
    await _answers_ping(comm)
    await comm.disconnect()


async def test_numbers_are_not_a_client_id_or_a_body(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    comm = await connected(net.nurse)
    await comm.send_json_to({"type": "post", "thread": book.pk, "client_id": 12345, "body": "x"})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error"
    assert "client_id" in reply["fields"]
    cid = str(uuid.uuid4())
    await comm.send_json_to({"type": "post", "thread": book.pk, "client_id": cid, "body": 5})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error"
    assert "body" in reply["fields"]
    await _answers_ping(comm)
    await comm.disconnect()
