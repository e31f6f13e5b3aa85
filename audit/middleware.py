"""Keeps the current request's address and user agent where audit rows can find them.

A context variable rather than a thread-local: under ASGI, Django runs sync views in threads
with the caller's context copied, so the value follows the request, not the thread. The live
socket sets it once per connection (`socket_context`, in `messaging.consumers`): posts and
reads made over the socket are audited with the same address and user agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None
    user_agent: str


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    # Behind nginx the address comes in X-Real-IP, which nginx sets and clients cannot forge.
    ip = request.META.get("HTTP_X_REAL_IP") or request.META.get("REMOTE_ADDR")
    return ip or None


def socket_context(scope: Mapping[str, Any]) -> RequestContext:
    """The audit context of a WebSocket connection, from its ASGI scope: what
    `RequestContextMiddleware` records for an HTTP request, read the same way."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    ip = headers.get(b"x-real-ip", b"").decode("latin-1")
    if not ip and scope.get("client"):
        ip = str(scope["client"][0])
    return RequestContext(
        ip_address=ip or None,
        user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:300],
    )


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(
            RequestContext(
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
            )
        )
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
