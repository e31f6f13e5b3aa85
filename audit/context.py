"""Where a request or a socket comes from, kept where audit rows can find it.

A context variable rather than a thread-local: under ASGI, Django runs sync views in threads
with the caller's context copied, so the value follows the request, not the thread. HTTP
requests set it in `audit.middleware.RequestContextMiddleware`; the live socket sets it once
per connection from its scope (`socket_context`, called by `messaging.consumers`), so posts
and reads made over the socket are audited with the same address and user agent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

USER_AGENT_MAX = 300


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None
    user_agent: str


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def _address(value: str | None) -> str | None:
    """`value` if it is an IP address, else None: the audit row stores it as `inet`, and a
    header that is not an address (no proxy in front, a client sending its own) would make
    every audited read a database error."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    # Behind nginx the address comes in X-Real-IP, which nginx sets and clients cannot forge.
    return _address(request.META.get("HTTP_X_REAL_IP")) or _address(request.META.get("REMOTE_ADDR"))


def request_context(request: HttpRequest) -> RequestContext:
    """The audit context of an HTTP request."""
    return RequestContext(
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    )


def socket_context(scope: Mapping[str, Any]) -> RequestContext:
    """The audit context of a WebSocket connection, from its ASGI scope: what
    `request_context` records for an HTTP request, read the same way."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    ip = _address(headers.get(b"x-real-ip", b"").decode("latin-1"))
    if not ip and scope.get("client"):
        ip = _address(str(scope["client"][0]))
    return RequestContext(
        ip_address=ip,
        user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:USER_AGENT_MAX],
    )
