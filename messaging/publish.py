"""Sending live events to the sockets of the people who should see them, after commit.

Recipients are the thread's members when the change is made: read in the post's own
statement (under the thread's lock), or after the commit for other changes
(`messaging.access.thread_member_ids`), so a person taken off the care team receives nothing
more. Sending never fails the write that caused it: the database is the store of record and
clients fill any gap by seq, so a full inbox or an unreachable Redis is logged and counted.

Under the server (`config.asgi` names its event loop with `serve_on`), a request does not wait
for its events: they go to a per-process outbox on the event loop, sent one after another in
the order they were published. Elsewhere (Celery, management commands, tests) sending blocks
until done. Revocations always block: a closed door must be closed before the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer  # noqa: TID251 (this module is the sender)
from django.db import transaction

from messaging.access import thread_member_ids
from messaging.groups import user_group
from messaging.metrics import count_dropped
from messaging.models import Thread

logger = logging.getLogger(__name__)

# The consumer method that relays an event: "kizuna.event" -> KizunaConsumer.kizuna_event.
RELAY_TYPE = "kizuna.event"


def publish_on_commit(
    thread: Thread, event: dict[str, Any], *, members: list[int] | None = None
) -> None:
    """Send `event` to the thread's members once the current transaction commits: `members`
    when the caller read them in its transaction (a post does, in its statement), else as
    they are after the commit."""
    if members is None:
        transaction.on_commit(lambda: publish(thread, event))
    else:
        transaction.on_commit(lambda: send_to_users(members, event))


def publish(thread: Thread, event: dict[str, Any]) -> None:
    send_to_users(thread_member_ids(thread), event)


def send_to_users(user_ids: Iterable[int], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    groups = [user_group(uid) for uid in user_ids]
    if groups:
        # Encoded once here, not once per socket: a post to a team of 100 is 100 frames.
        message = {"type": RELAY_TYPE, "text": json.dumps(event)}
        if not _to_outbox(layer, groups, message):
            _send_now(layer, groups, message)


# --- the outbox on the server's event loop --------------------------------------------------

OUTBOX_LIMIT = 10_000  # events waiting to be sent; beyond it they are dropped and counted
_server_loop: asyncio.AbstractEventLoop | None = None
_Outbox = asyncio.Queue[tuple[Any, list[str], dict[str, Any]]]
# The outbox, with the loop it belongs to and the task that drains it (kept: a task that
# nothing references may be garbage-collected mid-run).
_outbox: tuple[asyncio.AbstractEventLoop, _Outbox, asyncio.Task[None]] | None = None


def serve_on(loop: asyncio.AbstractEventLoop) -> None:
    """Name the event loop this process serves from (called from that loop)."""
    global _server_loop
    _server_loop = loop


def _to_outbox(layer: Any, groups: list[str], message: dict[str, Any]) -> bool:
    """Hand the send to the server's loop without waiting; False where there is none to use
    (not under the server, or called on that loop itself)."""
    loop = _server_loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return False
    try:
        if asyncio.get_running_loop() is loop:
            return False
    except RuntimeError:
        pass  # a sync thread: the usual case
    loop.call_soon_threadsafe(_enqueue, layer, groups, message)
    return True


def _enqueue(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    global _outbox
    loop = asyncio.get_running_loop()
    if _outbox is None or _outbox[0] is not loop:
        queue: _Outbox = asyncio.Queue()
        _outbox = (loop, queue, loop.create_task(_drain(queue), name="kizuna-outbox"))
    outbox = _outbox[1]
    if outbox.qsize() >= OUTBOX_LIMIT:
        logger.warning("live event dropped: the outbox holds %s events", outbox.qsize())
        count_dropped()
        return
    outbox.put_nowait((layer, groups, message))


async def _drain(outbox: _Outbox) -> None:
    while True:
        layer, groups, message = await outbox.get()
        try:
            await _send_all(layer, groups, message)  # logs and counts its own failures
        except Exception:
            # Whatever happens to one event, the outbox keeps draining for the next ones.
            logger.exception("live event not sent; clients will resync")


def revoke_on_commit(user_ids: Iterable[int], *, reason: str) -> None:
    """Close these users' sockets once the current transaction commits.

    `reason` is "access_changed" (a place on a team ended, consent withdrawn: the client
    reconnects and resyncs, and the sync answer lists the threads it lost) or "signed_out"
    (deactivated, password changed: the client stops and goes to the login page).
    """
    ids = sorted(set(user_ids))
    if ids:
        transaction.on_commit(
            lambda: send_control(ids, {"type": "kizuna.revoke", "reason": reason})
        )


def revoke_sessions_on_commit(user_id: int, session_tags: Iterable[str] | None) -> None:
    """Close the sockets of these sessions of one person once the current transaction
    commits (reason "signed_out"); `None`: every socket of theirs.

    Sent to the person's group, which each of their sockets is in: a socket of another session
    of theirs compares its own tag and stays open. A session needs no group of its own.
    """
    message: dict[str, Any] = {"type": "kizuna.revoke", "reason": "signed_out"}
    if session_tags is not None:
        tags = sorted({t for t in session_tags if t})
        if not tags:
            return
        message["sessions"] = tags
    transaction.on_commit(lambda: send_control([user_id], message))


def send_control(user_ids: Iterable[int], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    groups = [user_group(uid) for uid in user_ids]
    if layer is not None and groups:
        _send_now(layer, groups, message)


def _send_now(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    """Send from sync code, blocking until Redis has it."""
    if not hasattr(layer, "group_send_many_sync"):
        async_to_sync(_send_all)(layer, groups, message)
        return
    try:
        layer.group_send_many_sync(groups, message)
    except Exception:
        logger.exception("live event not sent to %s groups; clients will resync", len(groups))


async def _send_all(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    if hasattr(layer, "group_send_many"):
        # One batched send (messaging.layer): one Redis round trip whatever the team size.
        # A full inbox is counted where it is, by the receiving process.
        try:
            await layer.group_send_many(groups, message)
        except Exception:
            logger.exception("live event not sent to %s groups; clients will resync", len(groups))
        return
    for group in groups:  # other layers (the in-memory one of the embedded mode)
        try:
            await layer.group_send(group, message)
        except ChannelFull:
            logger.warning("live event %s dropped: channel full in %s", message.get("event"), group)
            count_dropped()
        except Exception:
            logger.exception("live event not sent to %s; clients will resync", group)
