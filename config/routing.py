"""WebSocket URL routes. Each app that speaks over the socket adds its consumer here."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
