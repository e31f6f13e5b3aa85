"""The channel layer: Redis publish/subscribe, one subscription per process.

channels_redis's layer keeps each process's inbox in Redis. Every event cost the sender two
round trips (the group's members, then a script that stores the event) and the receiving
process a blocking pop, a clean-up script and a decode per event: bench/ measured ~1.1 ms of
CPU per post, 40% of what Daphne spent on it. Here each process holds one Redis connection
subscribed to the groups its sockets joined. Sending is one PUBLISH per group (pipelined), Redis
pushes the event to the processes that have a member, and each process puts it in its
members' inboxes in memory.

The contract is channels_redis's, and the rest of the code relies on it:
- **At most once.** An inbox holds at most `capacity` messages; a message to a full inbox is
  dropped, logged and counted (`messaging.metrics`). What is published while Redis is away is
  lost. Clients fill every gap from the database by seq.
- **Group memberships expire** `group_expiry` seconds after the last `group_add`, so a consumer
  refreshes its membership (the consumer does on every ping).
- One addition: when the subscription breaks (Redis restarted, the network failed), every inbox
  of the process receives `{"type": "kizuna.lost"}` once it is back, so the sockets learn that
  events may have been lost and resync.

State lives per event loop (Redis connections belong to one loop): under Daphne that is the
server's loop. Sync code (Celery, management commands, the request thread without a server
loop) publishes with `group_send_many_sync` over a plain Redis client, no event loop needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
import msgpack
import redis
from channels.layers import BaseChannelLayer

from messaging.metrics import count_dropped

logger = logging.getLogger(__name__)

LOST = {"type": "kizuna.lost"}
RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)  # between attempts to subscribe again
SUBSCRIBE_WAIT_SECONDS = 5.0  # the longest group_add waits for Redis to confirm
PUBLISH_TIMEOUT_SECONDS = 5.0  # a send that takes longer fails (logged; clients resync)


def _resp(*args: str | bytes) -> bytes:
    """A Redis command in the wire protocol."""
    return bytes(hiredis.pack_command(args))  # type: ignore[arg-type]  # stub: a 1-tuple


def _pack(message: dict[str, Any]) -> bytes:
    return bytes(msgpack.packb(message, use_bin_type=True))


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def deployment_prefix(url: str) -> str:
    """The layer's name space when none is configured: one per database and Redis database.

    Redis publish/subscribe channels are shared by every database number of a Redis server,
    so two deployments (or a deployment and a test run) on one server would receive each
    other's events, message bodies included, for users that share an id. Derived from where
    the store of record is (host, port, database name: a test run's database has its own
    name) and the Redis database number, so each deployment hears only itself, with no
    setting to forget; `CHANNEL_LAYER_PREFIX` names it explicitly. Read when the layer is
    made, which is after the test database has its name.
    """
    from django.db import connections

    db = connections["default"].settings_dict
    where = f"{db.get('HOST')}:{db.get('PORT')}/{db.get('NAME')}|{urlsplit(url).path}"
    return "kz-" + hashlib.sha256(where.encode()).hexdigest()[:16]


class KizunaPubSubLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "",
        capacity: int = 1000,
        expiry: int = 60,
        group_expiry: int = 86400,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)
        self.url = url
        self.prefix = prefix or deployment_prefix(url)
        self.group_expiry = group_expiry
        self.process = uuid.uuid4().hex[:12]  # names this process's specific channels
        self._loops: dict[asyncio.AbstractEventLoop, _LoopLayer] = {}
        self._sync_client: redis.Redis | None = None

    # --- names -------------------------------------------------------------------------

    def group_key(self, group: str) -> str:
        return f"{self.prefix}:g:{group}"

    def process_key(self, process: str) -> str:
        return f"{self.prefix}:p:{process}"

    def _local(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            for old in [lp for lp in self._loops if lp.is_closed()]:
                del self._loops[old]
            state = self._loops[loop] = _LoopLayer(self)
        return state

    # --- the channel layer API -----------------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{self.prefix}.{prefix}.{self.process}!{uuid.uuid4().hex}"
        self._local().open_inbox(channel)
        return channel

    async def receive(self, channel: str) -> dict[str, Any]:
        # channels' validators raise TypeError themselves; not under `assert`, which
        # `python -O` would skip along with the check.
        self.require_valid_channel_name(channel)
        local = self._local()
        inbox = local.open_inbox(channel)
        try:
            return await inbox.get()
        except asyncio.CancelledError:
            # channels cancels receive when the consumer ends, after it left its groups: then
            # the inbox goes too, with anything left in it. (A receive that merely timed out
            # keeps a channel that is in a group.)
            if not local.groups_of.get(channel):
                local.close_inbox(channel)
            raise

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.require_valid_channel_name(channel)
        local = self._local()
        if channel in local.inboxes:
            local.deliver([channel], message)
            return
        process = channel.partition("!")[0].rsplit(".", 1)[-1]
        await local.publish([(self.process_key(process), _pack({"to": channel, "m": message}))])

    async def close_channel(self, channel: str) -> None:
        """Forget `channel`: its inbox and its groups. channels has no call for this, so a
        consumer that ends says so itself (`KizunaConsumer.disconnect`)."""
        self._local().close_inbox(channel)

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._local().join(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        await self._local().leave(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.group_send_many([group], message)

    async def group_send_many(self, groups: Iterable[str], message: dict[str, Any]) -> None:
        """Send `message` to every member of any of `groups`: one pipelined round trip.

        A channel in several of the groups gets it once per group it is in; the callers send
        to per-user groups, each socket in exactly one.
        """
        data = _pack(message)
        await self._local().publish([(self.group_key(g), data) for g in self._valid(groups)])

    def group_send_many_sync(self, groups: Iterable[str], message: dict[str, Any]) -> None:
        """`group_send_many` for sync code: no event loop, one pipelined round trip."""
        if self._sync_client is None:
            self._sync_client = redis.Redis.from_url(self.url)
        data = _pack(message)
        pipe = self._sync_client.pipeline(transaction=False)
        for group in self._valid(groups):
            pipe.publish(self.group_key(group), data)
        pipe.execute()

    def _valid(self, groups: Iterable[str]) -> list[str]:
        out = sorted(set(groups))
        for group in out:
            self.require_valid_group_name(group)
        return out

    async def flush(self) -> None:
        """Forget this loop's inboxes and groups and close its Redis connections."""
        local = self._loops.pop(asyncio.get_running_loop(), None)
        if local is not None:
            await local.close()

    async def close_pools(self) -> None:
        await self.flush()


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """A plain Redis connection: reader, writer, and how many replies (AUTH's) are pending."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(
        parts.hostname or "127.0.0.1", parts.port or 6379, ssl=parts.scheme == "rediss" or None
    )
    if not parts.password:
        return reader, writer, 0
    password = unquote(parts.password)
    user = unquote(parts.username) if parts.username else None
    writer.write(_resp("AUTH", user, password) if user else _resp("AUTH", password))
    return reader, writer, 1


class _Publisher:
    """PUBLISH over one plain connection: all of a send's commands in one write, then their
    replies. redis-py's pipeline spent ~120 µs of CPU on two publishes, this ~40 µs; for a
    team of 100 the difference is milliseconds per post."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = asyncio.Lock()  # one send's commands and replies at a time
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.replies = hiredis.Reader()

    async def publish(self, items: list[tuple[str, bytes]]) -> None:
        async with self.lock:
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                    pending = 0
                    if self.stream is None:
                        reader, writer, pending = await _connect(self.url)
                        self.stream, self.replies = (reader, writer), hiredis.Reader()
                    reader, writer = self.stream
                    writer.write(b"".join(_resp("PUBLISH", key, data) for key, data in items))
                    pending += len(items)
                    while pending:
                        while pending and (reply := self.replies.gets()) is not False:
                            pending -= 1
                            if isinstance(reply, hiredis.ReplyError):
                                raise reply
                        if pending:
                            data = await reader.read(65536)
                            if not data:
                                raise ConnectionError("Redis closed the publisher's connection")
                            self.replies.feed(data)
            except BaseException:
                self.close()  # the next send starts on a fresh connection
                raise

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream[1].close()


class _LoopLayer:
    """The inboxes, groups and Redis connections of one event loop."""

    def __init__(self, layer: KizunaPubSubLayer) -> None:
        self.layer = layer
        self.inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        # group -> {channel: when its membership lapses (monotonic seconds)}
        self.groups: dict[str, dict[str, float]] = {}
        self.groups_of: dict[str, set[str]] = {}  # channel -> its groups
        self.publisher = _Publisher(layer.url)
        self.subscriber: asyncio.StreamWriter | None = None
        self.subscribed = False  # the subscriber holds every wanted subscription
        self.reader: asyncio.Task[None] | None = None
        # Redis key -> done once Redis confirmed the subscription (reset when it breaks)
        self.confirmed: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # kept: unreferenced tasks may be collected

    # --- inboxes and groups ----------------------------------------------------------------

    def open_inbox(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        inbox = self.inboxes.get(channel)
        if inbox is None:
            inbox = self.inboxes[channel] = asyncio.Queue(self.layer.get_capacity(channel))
            self._start_reader()  # the process channel: `send` to a specific channel
        return inbox

    def close_inbox(self, channel: str) -> None:
        self.inboxes.pop(channel, None)
        for group in self.groups_of.pop(channel, set()):
            members = self.groups.get(group)
            if members is not None:
                members.pop(channel, None)
                if not members:
                    self._forget_group(group)

    async def join(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        new_group = members is None
        if members is None:
            members = self.groups[group] = {}
        members[channel] = time.monotonic() + self.layer.group_expiry
        self.groups_of.setdefault(channel, set()).add(group)
        key = self.layer.group_key(group)
        if new_group:
            self.confirmed.pop(key, None)
            self._start_reader()
            await self._command("SUBSCRIBE", key)
        # Like channels_redis's, a membership is live when group_add returns: a socket that
        # accepted before Redis had the subscription could miss the first events unseen.
        confirmed = self.confirmed.setdefault(key, asyncio.get_running_loop().create_future())
        if not confirmed.done():
            try:
                await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_WAIT_SECONDS)
            except TimeoutError:
                # Redis is away: go on; the socket will hear `kizuna.lost` when it is back.
                logger.warning("no confirmation of the subscription to %s", key)

    async def leave(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is None or channel not in members:
            return
        del members[channel]
        self.groups_of.get(channel, set()).discard(group)
        if not members:
            self._forget_group(group)

    def _forget_group(self, group: str) -> None:
        del self.groups[group]
        self.confirmed.pop(self.layer.group_key(group), None)

        async def unsubscribe() -> None:
            if group not in self.groups:  # nobody joined again meanwhile
                await self._command("UNSUBSCRIBE", self.layer.group_key(group))

        self._tasks.add(task := asyncio.get_running_loop().create_task(unsubscribe()))
        task.add_done_callback(self._tasks.discard)

    def deliver(self, channels: Iterable[str], message: dict[str, Any]) -> None:
        dropped = 0
        for channel in channels:
            inbox = self.inboxes.get(channel)
            if inbox is None:
                continue
            try:
                inbox.put_nowait(message)
            except asyncio.QueueFull:
                dropped += 1
        if dropped:
            logger.warning("%s message(s) %r dropped: inbox full", dropped, message.get("type"))
            # Counting is a cache call (blocking I/O): not on the event loop.
            asyncio.get_running_loop().run_in_executor(None, count_dropped, dropped)

    def _route(self, key: bytes, data: bytes) -> None:
        message = _unpack(data)
        name = key.decode()
        group = name.removeprefix(f"{self.layer.prefix}:g:")
        if group != name:
            members = self.groups.get(group)
            if not members:
                return
            now = time.monotonic()
            self.deliver([c for c, lapses in members.items() if lapses > now], message)
        elif isinstance(message, dict) and "to" in message:
            self.deliver([message["to"]], message["m"])

    def _confirm(self, key: str) -> None:
        confirmed = self.confirmed.setdefault(key, asyncio.get_running_loop().create_future())
        if not confirmed.done():
            confirmed.set_result(None)

    # --- Redis ---------------------------------------------------------------------------

    async def publish(self, items: list[tuple[str, bytes]]) -> None:
        if items:
            await self.publisher.publish(items)

    def _wanted(self) -> list[str]:
        keys = [self.layer.group_key(g) for g in self.groups]
        return [self.layer.process_key(self.layer.process), *keys]

    async def _command(self, *args: str) -> None:
        """SUBSCRIBE/UNSUBSCRIBE on the live subscriber; if it is down, the reader will
        subscribe to everything wanted when it is back."""
        if self.subscriber is None or not self.subscribed:
            return
        try:
            self.subscriber.write(_resp(*args))
            await self.subscriber.drain()
        except Exception:
            logger.warning("%s failed; the subscriber will reconnect", args[0], exc_info=True)

    def _start_reader(self) -> None:
        if self.reader is None or self.reader.done():
            self.reader = asyncio.get_running_loop().create_task(
                self._read(), name="kizuna-layer-subscriber"
            )

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                stream = await self._subscribe_all()
                if failures:
                    logger.warning("layer subscription back after %s failure(s)", failures)
                    # Whatever was published meanwhile is lost: tell every socket.
                    self.deliver(list(self.inboxes), LOST)
                failures = 0
                replies = hiredis.Reader()
                while data := await stream.read(65536):
                    replies.feed(data)
                    while (reply := replies.gets()) is not False:
                        if isinstance(reply, list) and reply and reply[0] == b"message":
                            self._route(reply[1], reply[2])
                        elif isinstance(reply, list) and reply and reply[0] == b"subscribe":
                            self._confirm(reply[1].decode())
                        elif isinstance(reply, hiredis.ReplyError):
                            raise reply  # e.g. a refused AUTH: log, wait, try again
                raise ConnectionError("Redis closed the subscriber's connection")
            except asyncio.CancelledError:
                raise
            except Exception:
                if failures == 0:
                    logger.exception("layer subscription lost; retrying")
                self._drop_subscriber()
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1

    async def _subscribe_all(self) -> asyncio.StreamReader:
        """A plain connection for the subscription (redis-py's own reads could not be cancelled
        cleanly while blocked), subscribed to every wanted channel."""
        reader, writer, _ = await _connect(self.layer.url)  # AUTH's reply is read and ignored
        # Marked subscribed before the command is sent: a group joined from here on sends
        # its own SUBSCRIBE (twice is harmless; missing one would lose the group's events).
        self.subscriber = writer
        self.subscribed = True
        writer.write(_resp("SUBSCRIBE", *self._wanted()))
        await writer.drain()
        return reader

    def _drop_subscriber(self) -> None:
        writer, self.subscriber = self.subscriber, None
        self.subscribed = False
        self.confirmed = {k: f for k, f in self.confirmed.items() if not f.done()}
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        self._drop_subscriber()
        self.publisher.close()


__all__ = ["LOST", "KizunaPubSubLayer"]
