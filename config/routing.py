"""WebSocket URL routes. Each app that speaks over the socket adds its consumer here.

One socket per client at /ws/: messaging's consumer carries every live event for its user.
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from messaging.consumers import KizunaConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/", KizunaConsumer.as_asgi(), name="ws"),
]
