"""Photos attached by the socket's `post` frame, through the real ASGI stack and Redis layer."""

from __future__ import annotations

import io
import uuid

import pytest
from channels.db import database_sync_to_async

from media import services as media_services
from messaging import services
from tests.media import photos
from tests.messaging.test_consumer import connected, next_event

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(user, patient):
    return str(
        media_services.attachment_upload(
            user, patient_id=patient.pk, client_id=uuid.uuid4(), upload=io.BytesIO(photos.jpeg())
        ).attachment.pk
    )


async def test_a_post_frame_attaches_photos_and_the_team_sees_them(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    photo = await database_sync_to_async(_upload)(net.nurse, net.patient)
    nurse = await connected(net.nurse)
    primary = await connected(net.primary)
    cid = str(uuid.uuid4())
    frame = {
        "type": "post",
        "thread": book.pk,
        "client_id": cid,
        "body": "写真",
        "attachments": [photo],
    }
    await nurse.send_json_to(frame)
    frames = [await next_event(nurse), await next_event(nurse)]
    assert any(f["type"] == "ack" and f["created"] for f in frames)
    event = await next_event(primary)
    while event["type"] != "message.new":
        event = await next_event(primary)
    assert [a["id"] for a in event["message"]["attachments"]] == [photo]
    for comm in (nurse, primary):
        await comm.disconnect()


async def test_a_post_frame_with_another_persons_photo_gets_a_field_error(net):
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    photo = await database_sync_to_async(_upload)(net.primary, net.patient)
    nurse = await connected(net.nurse)
    cid = str(uuid.uuid4())
    frame = {
        "type": "post",
        "thread": book.pk,
        "client_id": cid,
        "body": "写真",
        "attachments": [photo],
    }
    await nurse.send_json_to(frame)
    error = await next_event(nurse)
    assert error["type"] == "error"
    assert error["client_id"] == cid
    assert "attachments" in error["fields"]
    await nurse.disconnect()
