"""A typed reply over the live socket: acknowledged with `request.ack`, the thread's members
get `request.updated`; a reply refused (not the addressee, answered already) gets an `error`
frame with its client_id and the socket stays open."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from messaging import requests
from messaging.models import RequestReply
from patients.models import CareRole
from tests.messaging.test_consumer import connected, next_event

pytestmark = pytest.mark.django_db(transaction=True)


def _ask(net, book):
    return requests.request_create(
        net.nurse, thread=book.pk, client_id=uuid.uuid4(), body="残薬の確認を",
        to_role=CareRole.PHARMACIST,
    )  # fmt: skip


async def _until(comm, kind):
    for _ in range(10):
        frame = await next_event(comm)
        if frame["type"] == kind:
            return frame
    raise AssertionError(kind)


async def test_a_reply_frame_answers_the_request_and_the_team_sees_it(net, book):
    request = await database_sync_to_async(_ask)(net, book)
    nurse = await connected(net.nurse)
    pharmacist = await connected(net.pharmacist)
    cid = str(uuid.uuid4())
    frame = {"type": "request.reply", "request": request.pk, "kind": "acknowledged",
             "client_id": cid, "body": "本日確認します"}  # fmt: skip
    await pharmacist.send_json_to(frame)
    ack = await _until(pharmacist, "request.ack")
    assert ack == {"type": "request.ack", "client_id": cid, "request": request.pk,
                   "status": "answered", "created": True}  # fmt: skip
    update = await _until(nurse, "request.updated")
    assert update["request"]["status"] == "answered"
    assert update["request"]["replies"][0]["label"] == "確認しました"
    await nurse.disconnect()
    await pharmacist.disconnect()


@pytest.mark.parametrize("who", ["secondary", "pharmacist_twice"])
async def test_a_refused_reply_frame_gets_an_error_and_the_socket_stays_open(net, book, who):
    request = await database_sync_to_async(_ask)(net, book)
    user = net.secondary if who == "secondary" else net.pharmacist
    if who == "pharmacist_twice":
        await database_sync_to_async(requests.request_reply)(
            net.pharmacist, request_id=request.pk, kind="acknowledged", client_id=uuid.uuid4()
        )
    comm = await connected(user)
    cid = str(uuid.uuid4())
    await comm.send_json_to(
        {"type": "request.reply", "request": request.pk, "kind": "will_call", "client_id": cid}
    )
    error = await _until(comm, "error")
    assert error["code"] == ("forbidden" if who == "secondary" else "invalid")
    assert error["client_id"] == cid
    await comm.send_json_to({"type": "ping"})
    assert await _until(comm, "pong") == {"type": "pong"}
    count = await database_sync_to_async(RequestReply.objects.count)()
    assert count == (0 if who == "secondary" else 1)
    await comm.disconnect()
