"""A client that follows the web client's recovery rules, for the fault test.

Rules (docs/events.md, "Gaps and resync"):
- remember the highest seq applied per thread; apply a `message.new` only when its seq is the
  next one; an older seq is a copy already held (ignored); a newer one is a gap: send `resync`
  if the missing seqs have not arrived within `gap_grace` seconds. Events of one thread are
  published by whichever process handled each post, so two posts a few milliseconds apart
  can arrive swapped; without a short grace every such swap costs a full resync;
- after every (re)connect, send `resync` with the remembered seq before trusting the stream;
- reconnect with backoff whenever the socket closes or cannot be opened;
- post with a `client_id` and, on any failure, retry with the same `client_id` (the server
  answers a retry with the original message). A client made `via_socket` posts as the web
  page does: a `post` frame while its socket is open (settled by the `ack`), HTTP while it is
  not; a socket that closes, or no ack within `ack_timeout`, sends the post again. The other
  clients post over HTTP only, as API clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from bench.clients import open_socket, post_body, post_message


@dataclass
class Stats:
    live: int = 0  # messages applied from live events
    resynced: int = 0  # messages applied from resync/sync answers
    copies: int = 0  # events for messages already held
    gaps: int = 0  # out-of-order arrivals
    gap_resyncs: int = 0  # gaps not filled within the grace: resync sent
    connects: int = 0
    socket_posts: int = 0  # post attempts over the socket
    http_posts: int = 0  # post attempts over HTTP
    post_retries: int = 0
    post_errors: list[str] = field(default_factory=list)


class RecoveringClient:
    def __init__(
        self,
        *,
        name: str,
        bases: list[str],
        home: int,
        cookie: str,
        token: str,
        thread: int,
        gap_grace: float = 0.3,
        via_socket: bool = False,
        ack_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.bases = bases
        self.home = home
        self.cookie = cookie
        self.token = token
        self.thread = thread
        self.gap_grace = gap_grace
        self.via_socket = via_socket
        self.ack_timeout = ack_timeout
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}  # client_id -> ack/error
        self.early: dict[int, dict[str, Any]] = {}  # seq -> message that arrived before its turn
        self.last = 0
        self.applied: list[tuple[int, str]] = []  # (seq, client_id) in the order applied
        self.posted: list[str] = []  # client_ids this client posted (acknowledged)
        self.stats = Stats()
        self.ws: ClientConnection | None = None
        self.resync_pending = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- receiving -----------------------------------------------------------------------

    def _apply(self, message: dict[str, Any], *, live: bool) -> None:
        """Apply `message` if it is the next seq, then any early arrivals that now follow."""
        seq = int(message["seq"])
        if seq <= self.last:
            self.stats.copies += 1
            return
        if seq != self.last + 1:
            raise AssertionError(f"{self.name}: applying seq {seq} after {self.last}")
        current: dict[str, Any] | None = message
        while current is not None:
            self.applied.append((int(current["seq"]), str(current["client_id"])))
            self.last = int(current["seq"])
            if live:
                self.stats.live += 1
            else:
                self.stats.resynced += 1
            current = self.early.pop(self.last + 1, None)
            live = True
        for old in [s for s in self.early if s <= self.last]:
            del self.early[old]

    async def _gap_check(self, seq: int) -> None:
        await asyncio.sleep(self.gap_grace)
        if self.last < seq - 1:
            self.stats.gap_resyncs += 1
            await self._resync()

    async def _resync(self) -> None:
        ws = self.ws
        if ws is None or self.resync_pending:
            return
        self.resync_pending = True
        frame = {"type": "resync", "threads": {str(self.thread): self.last}}
        with contextlib.suppress(WebSocketException, OSError):
            await ws.send(json.dumps(frame))

    def _take_sync(self, threads: dict[str, Any]) -> bool:
        """Apply a sync answer; True when the thread has more to fetch."""
        entry = threads.get(str(self.thread))
        if entry is None:
            return False
        for message in entry.get("messages", []):
            self._apply(message, live=False)
        return bool(entry.get("has_more")) or int(entry["last_seq"]) > self.last

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message.new" and frame.get("thread") == self.thread:
            seq = int(frame["seq"])
            if seq <= self.last:
                self.stats.copies += 1
            elif seq == self.last + 1:
                self._apply(frame["message"], live=True)
            else:
                self.stats.gaps += 1
                self.early[seq] = frame["message"]
                if self.gap_grace <= 0:
                    await self._resync()
                else:
                    task = asyncio.create_task(self._gap_check(seq))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        elif kind == "resync":
            self.resync_pending = False
            if self._take_sync(frame.get("threads", {})):
                await self._resync()
        elif kind in ("ack", "error") and frame.get("client_id") in self.answers:
            answer = self.answers[frame["client_id"]]
            if not answer.done():
                answer.set_result(frame)
        elif kind == "error":
            # A resync refused (e.g. the database or Redis hiccuped): ask again later.
            self.resync_pending = False

    async def listen(self, stop: asyncio.Event) -> None:
        """Keep a socket to the home server until `stop`; resync after every connect."""
        backoff = 0.1
        while not stop.is_set():
            try:
                self.ws = await open_socket(self.bases[self.home], self.cookie, open_timeout=5)
                self.stats.connects += 1
                self.resync_pending = False
                backoff = 0.1
                await self._resync()
                async for raw in self.ws:
                    await self._on_frame(json.loads(raw))
            except (WebSocketException, OSError, TimeoutError):
                pass
            finally:
                ws, self.ws = self.ws, None
                for answer in self.answers.values():  # their acks went down with the socket
                    if not answer.done():
                        answer.set_exception(ConnectionError("socket closed"))
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
            if not stop.is_set():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    # --- posting -------------------------------------------------------------------------

    async def post(self, http: httpx.AsyncClient, body: str, *, deadline: float) -> None:
        """Post once, retrying with the same client_id (over the socket or HTTP, and HTTP to
        the other server too) until accepted."""
        cid = str(uuid.uuid4())
        attempt = 0
        while True:
            ws = self.ws if self.via_socket else None
            try:
                if ws is not None:
                    error = await self._post_over_socket(ws, cid, body)
                else:
                    base = self.bases[(self.home + attempt) % len(self.bases)]
                    error = await self._post_over_http(http, base, cid, body)
            except (httpx.HTTPError, WebSocketException, OSError, ValueError) as exc:
                error = type(exc).__name__
            except TimeoutError:
                error = "no ack"
            if error is None:
                self.posted.append(cid)
                return
            if len(self.stats.post_errors) < 20:
                self.stats.post_errors.append(error)
            self.stats.post_retries += 1
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: post {cid} not accepted before the deadline")
            attempt += 1
            await asyncio.sleep(min(0.1 * attempt, 1.0))

    async def _post_over_socket(self, ws: ClientConnection, cid: str, body: str) -> str | None:
        """A `post` frame and its answer: None when acked, else what went wrong."""
        self.stats.socket_posts += 1
        answer = self.answers[cid] = asyncio.get_running_loop().create_future()
        try:
            frame = {"type": "post", "thread": self.thread, "client_id": cid, "body": body}
            await ws.send(json.dumps(frame))
            reply = await asyncio.wait_for(answer, self.ack_timeout)
        finally:
            del self.answers[cid]
        if reply["type"] == "ack":
            return None
        return f"error frame {reply.get('code')}"

    async def _post_over_http(
        self, http: httpx.AsyncClient, base: str, cid: str, body: str
    ) -> str | None:
        self.stats.http_posts += 1
        answer = await post_message(http, base, self.token, self.thread, post_body(body, cid))
        if answer.status_code in (200, 201) and answer.json()["client_id"] == cid:
            return None
        return f"HTTP {answer.status_code}"

    async def catch_up(self, http: httpx.AsyncClient, *, target: int, deadline: float) -> None:
        """Fetch with `POST /api/v1/sync/` (any server) until the thread's seq `target`."""
        attempt = 0
        while self.last < target:
            base = self.bases[attempt % len(self.bases)]
            attempt += 1
            try:
                answer = await http.post(
                    f"{base}/api/v1/sync/",
                    json={"threads": {str(self.thread): self.last}},
                    headers={"Authorization": f"Token {self.token}"},
                )
                if answer.status_code == 200:
                    self._take_sync(answer.json()["threads"])
                    continue
            except (httpx.HTTPError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: caught up to {self.last} of {target}")
            await asyncio.sleep(0.2)
