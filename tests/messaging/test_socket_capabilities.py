"""The live socket refuses a post by someone who sees the thread but may not post in it (a
break-glass reader, `patients.access.POLICY`) with an `error` frame "forbidden", and stays
open; an outsider gets "not_found", as before."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from messaging.models import Message
from patients.models import BreakGlassGrant
from tests.messaging.test_consumer import connected, next_event

pytestmark = pytest.mark.django_db(transaction=True)


def _open_break_glass(net) -> None:
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.outsider,
        reason="救急搬送時の情報確認のため",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )


@pytest.mark.parametrize(("breaks_glass", "code"), [(True, "forbidden"), (False, "not_found")])
async def test_a_post_frame_refused_gets_an_error_frame_and_the_socket_stays_open(
    net, book, breaks_glass, code
):
    if breaks_glass:
        await database_sync_to_async(_open_break_glass)(net)
    comm = await connected(net.outsider)
    client_id = str(uuid.uuid4())
    frame = {"type": "post", "thread": book.pk, "client_id": client_id, "body": "投稿"}
    await comm.send_json_to(frame)
    error = await next_event(comm)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["client_id"] == client_id
    if breaks_glass:
        assert "投稿" in error["message"]
    await comm.send_json_to({"type": "ping"})
    assert await next_event(comm) == {"type": "pong"}
    assert not await database_sync_to_async(Message.objects.filter(author=net.outsider).exists)()
    await comm.disconnect()
