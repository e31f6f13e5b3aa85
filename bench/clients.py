"""Client-side helpers shared by the benchmark and the fault test: log in, get a token, open
the live socket, post a message.

Clients log in as a person would: the login form (CSRF token and all) for the session cookie
that the WebSocket needs, and `POST /api/v1/auth/token/` for the API token used over HTTP.
With `DJANGO_DEBUG=0` the cookies are `Secure`, which a cookie jar would not send back over
plain http on 127.0.0.1, so the cookies are read from `Set-Cookie` and sent by hand.
"""

from __future__ import annotations

import json
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


async def login_session(http: httpx.AsyncClient, base: str, username: str, password: str) -> str:
    """Log in through the real login form; returns the `Cookie` header value for the socket."""
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
    session = _cookies(answer).get("sessionid")
    if answer.status_code != 302 or not session:
        raise RuntimeError(f"login of {username} failed: HTTP {answer.status_code}")
    return f"sessionid={session}"


async def api_token(http: httpx.AsyncClient, base: str, username: str, password: str) -> str:
    """An API token from `POST /api/v1/auth/token/`."""
    answer = await http.post(
        f"{base}/api/v1/auth/token/", json={"username": username, "password": password}
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
