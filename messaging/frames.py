"""Socket frames that other apps answer: a registry, so the one `/ws/` consumer carries them
without importing the apps above messaging.

An app registers, in its `receivers.py`, a handler per frame type (`register("room.join",
handler)`) and, if it keeps state per socket, a hook run when a socket closes
(`on_disconnect(hook)`). The consumer calls `handler(socket, content)` for a frame of that
type; the socket (`Socket`) offers the person, the channel name, and a way to send frames to
it and to other sockets. A handler refuses by raising: `FrameError` (a malformed frame, with
its code), `config.errors.NotFound`, `Forbidden` or `DomainError`; the consumer turns each
into an `error` frame and the socket stays open, as for its own frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from teams.models import User


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Socket(Protocol):
    """What a frame handler may use of the consumer."""

    user: User
    channel_name: str

    async def send_json(self, content: Any, close: bool = False) -> None: ...

    async def send_to(self, channel: str, frame: dict[str, Any]) -> None: ...


Handler = Callable[[Socket, dict[str, Any]], Awaitable[None]]
Hook = Callable[[Socket], Awaitable[None]]

_handlers: dict[str, Handler] = {}
# Per frame type: what its refusals are audited as (object type, the frame's field naming it).
_subjects: dict[str, tuple[str, str]] = {}
_disconnect_hooks: list[Hook] = []


def register(kind: str, handler: Handler, *, subject: tuple[str, str]) -> None:
    """Answer frames of type `kind` with `handler` (once per type; a second app may not take
    a type already taken). `subject`: what a refusal of such a frame is audited as, the
    object type and the frame's field that names the object."""
    if kind in _handlers and _handlers[kind] is not handler:
        raise ValueError(f"socket frame type {kind!r} is already answered")
    _handlers[kind] = handler
    _subjects[kind] = subject


def subject_for(kind: Any) -> tuple[str, str] | None:
    return _subjects.get(kind) if isinstance(kind, str) else None


def handler_for(kind: Any) -> Handler | None:
    return _handlers.get(kind) if isinstance(kind, str) else None


def on_disconnect(hook: Hook) -> None:
    if hook not in _disconnect_hooks:
        _disconnect_hooks.append(hook)


def disconnect_hooks() -> tuple[Hook, ...]:
    return tuple(_disconnect_hooks)
