"""Client-side helpers shared by the benchmark and the fault test: log in, get a token, open
the live socket, post a message.

Clients log in as a person would: the login form (CSRF token and all) for the session cookie
that the WebSocket needs, and `POST /api/v1/auth/token/` for the API token used over HTTP.
With `DJANGO_DEBUG=0` the cookies are `Secure`, which a cookie jar would not send back over
plain http on 127.0.0.1, so the cookies are read from `Set-Cookie` and sent by hand.

Every sign-in has a second factor. The benchmark's people have authenticators whose keys come
from their user names (`totp_key`; `bench.setup_data.enrol` writes them), so a client works
out the code an app would show. A code's time step is taken once: signing one person in
twice within 30 seconds uses the next step, which the server accepts (one step of drift).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


def _cookies(response: httpx.Response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def totp_key(username: str) -> str:
    """The benchmark person's authenticator key (hex): test data, derived from the name."""
    return hashlib.sha256(f"kizuna-bench-totp:{username}".encode()).hexdigest()[:40]


_last_step: dict[str, int] = {}


def totp_code(username: str, step_seconds: int = 30) -> str:
    """The next unused code of the person's authenticator (RFC 6238, SHA-1, 6 digits)."""
    step = max(int(time.time()) // step_seconds, _last_step.get(username, -1) + 1)
    _last_step[username] = step
    digest = hmac.new(bytes.fromhex(totp_key(username)), struct.pack(">Q", step), "sha1")
    raw = digest.digest()
    offset = raw[-1] & 0x0F
    value = struct.unpack(">I", raw[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


async def login_session(http: httpx.AsyncClient, base: str, username: str, password: str) -> str:
    """Log in through the real login form and the second-factor form; returns the `Cookie`
    header value for the socket."""
    page = await http.get(f"{base}/login/")
    page.raise_for_status()
    csrf = _cookies(page)["csrftoken"]
    http.cookies.clear()
    answer = await http.post(
        f"{base}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Cookie": f"csrftoken={csrf}", "Referer": f"{base}/login/"},
        follow_redirects=False,
    )
    http.cookies.clear()
    set_cookies = _cookies(answer)
    session = set_cookies.get("sessionid")
    if answer.status_code != 302 or not session:
        raise RuntimeError(f"login of {username} failed: HTTP {answer.status_code}")
    csrf = set_cookies.get("csrftoken", csrf)  # Django rotates it at login
    second = await http.post(
        f"{base}/account/two-factor/",
        data={"code": totp_code(username), "csrfmiddlewaretoken": csrf},
        headers={
            "Cookie": f"csrftoken={csrf}; sessionid={session}",
            "Referer": f"{base}/account/two-factor/",
        },
        follow_redirects=False,
    )
    http.cookies.clear()
    if second.status_code != 302:
        raise RuntimeError(f"second factor of {username} failed: HTTP {second.status_code}")
    session = _cookies(second).get("sessionid", session)
    return f"sessionid={session}"


async def api_token(http: httpx.AsyncClient, base: str, username: str, password: str) -> str:
    """An API token from `POST /api/v1/auth/token/` (password and second-factor code)."""
    answer = await http.post(
        f"{base}/api/v1/auth/token/",
        json={"username": username, "password": password, "otp_code": totp_code(username)},
    )
    http.cookies.clear()
    if answer.status_code != 200:
        raise RuntimeError(f"token for {username} failed: HTTP {answer.status_code}")
    return str(answer.json()["token"])


async def open_socket(base: str, cookie: str, *, open_timeout: float = 10.0) -> ClientConnection:
    """The live socket `/ws/` with the session cookie and a same-origin `Origin`."""
    ws_url = base.replace("http://", "ws://", 1) + "/ws/"
    return await connect(
        ws_url,
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        open_timeout=open_timeout,
        ping_interval=None,  # the server pings in-band; keep the client quiet
        max_size=2**22,
    )


def post_body(body: str, client_id: str | None = None) -> dict[str, Any]:
    return {"client_id": client_id or str(uuid.uuid4()), "body": body, "kind": "note"}


async def post_message(
    http: httpx.AsyncClient, base: str, token: str, thread: int, payload: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"{base}/api/v1/threads/{thread}/messages/",
        content=json.dumps(payload),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
