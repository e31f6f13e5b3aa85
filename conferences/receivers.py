"""Conferences' wiring: the meeting room's frames on messaging's socket."""

from __future__ import annotations

from conferences import consumers
from messaging import frames


def connect() -> None:
    for kind, handler in consumers.HANDLERS.items():
        frames.register(kind, handler, subject=("conferences.conference", "room"))
    frames.on_disconnect(consumers.closed)
