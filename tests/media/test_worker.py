"""Derivatives by a real Celery worker on the `media` queue, and the live event they send."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer  # noqa: TID251 (the test listens, as a socket would)

from config.celery import app
from media import services
from media.models import Attachment, State
from messaging import services as messaging_services
from messaging.groups import user_group
from tests.media import photos
from tests.workers import celery_worker


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_makes_the_derivatives_and_the_thread_hears_of_it(
    net, photo_storage: Path, monkeypatch
):
    app.conf.task_always_eager = False  # queued to Redis, made by the worker below
    book = messaging_services.contact_book_ensure(net.patient)

    async def scenario() -> tuple[dict[str, Any], float]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(net.primary.pk), channel)

        def upload_and_post() -> float:
            start = time.monotonic()
            photo = services.attachment_upload(
                net.nurse,
                patient_id=net.patient.pk,
                client_id=uuid.uuid4(),
                upload=io.BytesIO(photos.jpeg(width=1200, height=900)),
                body_site="sacrum",
            ).attachment
            messaging_services.message_post(
                net.nurse,
                thread=book,
                client_id=uuid.uuid4(),
                body="仙骨部の写真です。",
                attachments=[photo.pk],
            )
            return start

        start = await asyncio.to_thread(upload_and_post)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = await asyncio.wait_for(layer.receive(channel), timeout=60)
            event = json.loads(message["text"])
            if event["type"] == "attachments.ready":
                return event, time.monotonic() - start
        raise AssertionError("no attachments.ready event")

    with celery_worker(("media",), name="media", MEDIA_ROOT=str(photo_storage)):
        event, _took = asyncio.run(scenario())
    photo = event["message"]["attachments"][0]
    assert photo["state"] == "ready"
    assert photo["urls"]["thumb"]
    row = Attachment.objects.get(pk=photo["id"])
    assert row.state == State.READY
    assert (photo_storage / row.thumb_file).is_file()
    assert (photo_storage / row.display_file).is_file()
