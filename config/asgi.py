"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets carry the user's cookies from any site, so the origin check is not optional.
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, for a project whose views and middleware are sync.

    Django's own handler builds an async middleware chain and opens a `ThreadSensitiveContext`
    per request, so every request starts a new OS thread and hops between it and the event
    loop three times (the middleware, the inner handler, the view), plus once more for each
    signal. Here the chain is built for sync code and runs in one hop, on the process's one
    sync thread, which the socket consumers' database work (`database_sync_to_async`) already
    uses: bench/ measured 4.0 -> 2.5 ms of CPU for a plain 404 and 10 -> 6.5 ms for an API read.

    The price: one process runs one sync request at a time, so a slow request delays the others
    in that process. Scale with processes (`deploy/dev/cluster.py`: one per core); async views
    still work, as Django adapts them.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}")
        serve_on(asyncio.get_running_loop())
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


# Collector thresholds for a long-running server process (see `tune_gc`).
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Keep Python's cycle collector out of the live path.

    A full collection walks every tracked object, and a server's heap is mostly what start-up
    built (Django, DRF, Channels: ~100 MB). Each one stalled every socket of the process:
    bench/ saw fan-out p99 of 110-155 ms against a p50 of 25 ms. Start-up objects are frozen
    (never scanned again), which brought p99 under 50 ms; young collections also run less
    often. Full collections keep their usual cadence, so cyclic garbage does not pile up.
    `KIZUNA_GC_TUNING=0` keeps Python's defaults.
    """
    if os.environ.get("KIZUNA_GC_TUNING", "1") == "0":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()


from config.routing import websocket_urlpatterns  # noqa: E402
from messaging.publish import serve_on  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
from config import beat  # noqa: E402

# Embedded mode: the periodic tasks (sweeps, the audit seal) in this process; else nothing.
beat.start()
tune_gc()  # last: everything imported and built so far is frozen
