"""Hostile HTTP against a real Daphne: what the server refuses itself, and what the app does.

Daphne (Twisted) reads at most 16 KiB of request line and headers, before the app sees
anything: one line (the request line, or a header) over 16 KiB and it closes the connection
without an answer; headers over 16 KiB in all and it answers a bare 400 and closes. Under
that, the app's own limit (`KIZUNA_MAX_URL_BYTES`, 8 KiB) answers 414 in the API's error
shape. Either way the server keeps serving, and nothing is a 500.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from teams import services as team_services

pytestmark = pytest.mark.browser


def _request(
    url: str, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, target, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _raw_status(url: str, request: bytes) -> int | None:
    """The status of a raw request, or None if the server closed without answering."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)  # Twisted may close while we are still sending
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    return int(data.split(b" ", 2)[1]) if data else None


@pytest.fixture
def api_token(browser_data: Any, django_db_blocker: Any) -> Iterator[str]:
    """An API token of the nurse, committed for the server process and deleted after."""
    with django_db_blocker.unblock():
        token, key = team_services.token_create(browser_data.nurse)
    yield key
    with django_db_blocker.unblock():
        token.delete()


def _ok(url: str) -> None:
    assert _request(url, "GET", "/login/")[0] == 200


def test_a_url_over_the_apps_limit_is_a_414_in_the_error_shape(live_server_url: str) -> None:
    status, body = _request(live_server_url, "GET", "/api/v1/patients/?q=" + "a" * 12_000)
    assert status == 414
    assert json.loads(body)["error"]["code"] == "uri_too_long"
    _ok(live_server_url)


@pytest.mark.parametrize(
    ("target", "headers", "answer"),
    [
        # A request line of tens of kilobytes, one huge header: closed without an answer.
        ("/api/v1/patients/?q=" + "a" * 40_000, "", None),
        ("/", "X-Pad: " + "a" * 40_000 + "\r\n", None),
        # Many headers, each short, over 16 KiB in all: a bare 400.
        ("/", "".join(f"X-Pad-{i}: {'a' * 100}\r\n" for i in range(300)), 400),
    ],
)
def test_daphne_refuses_huge_request_heads_itself_and_keeps_serving(
    live_server_url: str, target: str, headers: str, answer: int | None
) -> None:
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n"
    assert _raw_status(live_server_url, head.encode("latin-1")) == answer
    _ok(live_server_url)


def test_deep_json_and_a_nul_are_400s_through_daphne(live_server_url: str, api_token: str) -> None:
    auth = {"Authorization": f"Token {api_token}"}
    body = ("[" * 50_000 + "]" * 50_000).encode()
    headers = {**auth, "Content-Type": "application/json"}
    status, answer = _request(live_server_url, "POST", "/api/v1/sync/", headers, body)
    assert status == 400
    assert json.loads(answer)["error"]["code"] == "too_deep"
    status, answer = _request(live_server_url, "GET", "/api/v1/patients/?q=a%00b", auth)
    assert status == 400
    assert list(json.loads(answer)["error"]["fields"]) == ["q"]
    _ok(live_server_url)
