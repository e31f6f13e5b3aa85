"""Posting and searching over their rate (teams.throttle): the API, the page without
JavaScript and the live socket each refuse with 429 / an error frame, store nothing, and let
the person go on once the bucket has refilled."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from messaging import services
from messaging.models import Message, Thread
from tests.messaging.test_consumer import connected, next_event


def limits(settings: Any, action: str, per_minute: float, burst: int) -> None:
    settings.KIZUNA_RATE_LIMITS = {
        **django_settings.KIZUNA_RATE_LIMITS,
        action: {"per_minute": per_minute, "burst": burst},
    }


@pytest.fixture
def book(net: Any) -> Thread:
    return services.contact_book_ensure(net.patient)


def post_body(body: str = "本日訪問しました。") -> dict[str, Any]:
    return {"client_id": str(uuid.uuid4()), "body": body}


@pytest.mark.django_db
def test_a_burst_of_posts_within_the_limit_passes_and_the_next_gets_429(
    net, api_as, book, settings
):
    limits(settings, "post", per_minute=6, burst=5)
    api = api_as(net.nurse)
    url = f"/api/v1/threads/{book.pk}/messages/"
    for i in range(5):
        assert api.post(url, post_body(f"{i}"), format="json").status_code == 201
    response = api.post(url, post_body("六つ目"), format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "送信が多すぎます" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 10  # one post's worth at 6 a minute
    assert Message.objects.filter(thread=book).count() == 5
    # The limit is the person's: a teammate posts on.
    assert api_as(net.primary).post(url, post_body(), format="json").status_code == 201


@pytest.mark.django_db
def test_the_default_post_limit_lets_an_outbox_of_a_day_through(net, api_as, book):
    """A nurse back online sends what piled up (30 posts) in one go."""
    api = api_as(net.nurse)
    url = f"/api/v1/threads/{book.pk}/messages/"
    for i in range(30):
        assert api.post(url, post_body(f"{i}"), format="json").status_code == 201
    assert api.post(url, post_body(), format="json").status_code == 429


@pytest.mark.django_db
def test_a_post_over_the_limit_without_javascript_keeps_the_text(net, book, settings):
    limits(settings, "post", per_minute=1, burst=1)
    client = Client()
    client.force_login(net.nurse)
    url = reverse("thread-post", args=[book.pk])
    assert client.post(url, {"body": "一通目", "client_id": str(uuid.uuid4())}).status_code == 302
    key = str(uuid.uuid4())
    response = client.post(url, {"body": "二通目の本文", "client_id": key})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    page = response.content.decode()
    assert "送信が多すぎます" in page
    assert "二通目の本文" in page
    assert key in page  # sent again later, it is still one message
    assert Message.objects.filter(thread=book).count() == 1


@pytest.mark.django_db
def test_message_search_is_limited(net, api_as, book, settings):
    limits(settings, "search", per_minute=1, burst=3)
    api = api_as(net.nurse)
    for _ in range(3):
        assert api.get("/api/v1/search/", {"q": "訪問"}).status_code == 200
    response = api.get("/api/v1/search/", {"q": "訪問"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "検索が多すぎます" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 60


async def until(comm: Any, kind: str) -> dict[str, Any]:
    """The next frame of `kind`, passing over the live events of the thread's messages."""
    while (frame := await next_event(comm))["type"] != kind:
        assert frame["type"] in ("ack", "message.new", "thread.read"), frame
    return frame


@pytest.mark.django_db(transaction=True)
async def test_a_socket_post_over_the_limit_gets_an_error_frame_and_a_later_post_succeeds(
    net, settings
):
    limits(settings, "post", per_minute=30, burst=2)  # one more every 2 s
    book = await database_sync_to_async(services.contact_book_ensure)(net.patient)
    comm = await connected(net.nurse)
    for i in range(2):
        await comm.send_json_to({"type": "post", "thread": book.pk, **post_body(f"{i}")})
        await until(comm, "ack")
    refused = post_body("三通目")
    await comm.send_json_to({"type": "post", "thread": book.pk, **refused})
    error = await until(comm, "error")
    assert error["code"] == "rate_limited"
    assert error["client_id"] == refused["client_id"]
    assert 1 <= error["retry_after"] <= 2
    assert "送信が多すぎます" in error["message"]
    count = database_sync_to_async(Message.objects.filter(thread=book).count)
    assert await count() == 2
    # The socket stays open ...
    await comm.send_json_to({"type": "ping"})
    await until(comm, "pong")
    # ... and the same post, sent again once the bucket has refilled, is stored.
    await asyncio.sleep(error["retry_after"])
    await comm.send_json_to({"type": "post", "thread": book.pk, **refused})
    ack = await until(comm, "ack")
    assert ack["client_id"] == refused["client_id"]
    assert ack["created"] is True
    assert await count() == 3
    await comm.disconnect()


@pytest.mark.django_db
def test_the_limit_holds_across_the_api_and_the_page(net, api_as, book, settings):
    limits(settings, "post", per_minute=1, burst=2)
    api = api_as(net.nurse)
    assert (
        api.post(f"/api/v1/threads/{book.pk}/messages/", post_body(), format="json").status_code
        == 201
    )
    client = Client()
    client.force_login(net.nurse)
    url = reverse("thread-post", args=[book.pk])
    assert client.post(url, post_body()).status_code == 302
    assert client.post(url, post_body()).status_code == 429
