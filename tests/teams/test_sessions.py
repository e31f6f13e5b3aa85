"""The session rules (teams.sessions): a new key at login, the idle timeout (per organization,
the strictest applies), the absolute lifetime from the login, what counts as activity, and
how a page, the API and a live socket end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test import Client
from django.urls import reverse

from config.asgi import application
from teams import sessions
from tests.factories import PASSWORD


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _age(client: Client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = session[key] - seconds
    session.save()


@pytest.mark.django_db
def test_login_gives_a_new_session_key_and_stamps_it(net):
    client = Client()
    before = client.session
    before["probe"] = 1
    before.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = str(before.session_key)
    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before.session_key
    assert not SessionStore().exists(before.session_key)  # the old key is gone, not reused
    stored = SessionStore(session_key=after)
    # Signed in with the password: stamped, and held at the second factor.
    assert sessions.verdict(stored) is sessions.Verdict.UNVERIFIED
    assert stored[sessions.IDLE_SECONDS] == 15 * 60


@pytest.mark.django_db
def test_an_idle_page_goes_to_login_with_a_japanese_message(net):
    client = _client(net.nurse)
    assert client.get(reverse("home")).status_code == 200
    _age(client, sessions.SEEN_AT, 15 * 60 + 1)
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login"))
    assert "操作のない時間が続いたため、ログアウトしました。" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302  # logged out for good


@pytest.mark.django_db
def test_the_absolute_lifetime_ends_an_active_session(net):
    client = _client(net.nurse)
    _age(client, sessions.LOGIN_AT, settings.SESSION_COOKIE_AGE)
    response = client.get(reverse("home"), follow=True)
    assert "ログインの有効期限が切れました。" in response.content.decode()


@pytest.mark.django_db
def test_an_idle_session_on_the_api_is_401_in_the_error_shape(net):
    client = _client(net.nurse)
    _age(client, sessions.SEEN_AT, 15 * 60 + 1)
    response = client.get("/api/v1/threads/")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "session_expired"
    assert body["error"]["fields"] == {}


@pytest.mark.django_db
def test_an_htmx_request_of_an_idle_session_is_sent_to_login(net):
    client = _client(net.nurse)
    _age(client, sessions.SEEN_AT, 15 * 60 + 1)
    response = client.get(reverse("home"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == reverse("login")


@pytest.mark.django_db
def test_the_strictest_organization_sets_the_idle_timeout(net):
    assert sessions.idle_seconds_for(net.nurse) == 15 * 60
    net.station.session_idle_minutes = 5
    net.station.save()
    assert sessions.idle_seconds_for(net.nurse) == 5 * 60
    net.lead_clinic.session_idle_minutes = 60
    net.lead_clinic.save()
    # The coordinator's only organization is laxer than the default: its own setting holds.
    assert sessions.idle_seconds_for(net.coordinator) == 60 * 60
    client = _client(net.nurse)
    _age(client, sessions.SEEN_AT, 5 * 60 + 1)
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_background_requests_are_not_activity_and_user_actions_are(net):
    client = _client(net.nurse)
    _age(client, sessions.SEEN_AT, 100)
    stamp = client.session[sessions.SEEN_AT]
    client.get("/api/v1/threads/", headers={"X-Kizuna-Background": "1"})
    assert client.session[sessions.SEEN_AT] == stamp
    client.get(reverse("home"))
    assert client.session[sessions.SEEN_AT] > stamp


@pytest.mark.django_db(transaction=True)
async def test_the_socket_of_an_idle_session_is_closed(net, settings):
    settings.KIZUNA_WS_PING_SECONDS = 0.2
    client = await database_sync_to_async(_client)(net.nurse)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]
    comm = WebsocketCommunicator(application, "/ws/", headers=headers)
    ok, _ = await comm.connect()
    assert ok
    await database_sync_to_async(_age)(client, sessions.SEEN_AT, 15 * 60 + 1)
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == 4003
            break
        assert asyncio.get_running_loop().time() < deadline
    await comm.disconnect()

    # And an idle session opens no new socket.
    again = WebsocketCommunicator(application, "/ws/", headers=headers)
    ok, _ = await again.connect()
    assert not ok
    # The sync thread's connection must not outlive this test's database (later async tests
    # run requests on the same thread, where an open connection would be checked).
    await database_sync_to_async(connections.close_all)()
