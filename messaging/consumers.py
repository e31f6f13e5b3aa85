"""The one WebSocket per client (`/ws/`): live events in, posts and resyncs out.

Thin, like the API: it authenticates, joins its user's group, relays events, and hands posts
and resyncs to the same services and selectors as the API. Every client frame gets an answer;
a bad frame gets an error frame and the socket stays open. A post over the person's rate
(`teams.throttle`) gets an `error` frame with code `rate_limited` and `retry_after` (seconds):
nothing is stored, the socket stays open, and the client sends it again after that. Frames are
decoded by `config.untrusted.load_json`, like the API's bodies: too large, too deep, or holding
a NUL or a lone surrogate is an `invalid_frame` error, never a dropped connection.

The channel layer (messaging/layer.py) is at-most-once and forgets group members after
`group_expiry`, so the consumer re-joins its group on every ping (which refreshes the
membership) and, as a second line, closes with code 4000 ("cycle") before the expiry so the
client reconnects and resyncs. It also closes with 4000 when the layer reports that its Redis
subscription broke (`kizuna.lost`): events may have been lost, and the client's resync on
reconnect fetches them from the database.

A socket is signed in with its web session. When that session ends (logout, a device revoked,
a password change, an administrator), teams announces it and the revocation names the
session by its tag (`teams.models.session_tag`): the socket closes with 4003 at once. A
session that expires (idle timeout, absolute lifetime: `teams.sessions`) or disappears from
the store is found by the keepalive, which asks the store on every tick (at most every
`teams.sessions.SOCKET_CHECK_SECONDS`): the socket closes with 4003 then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import current_request, socket_context
from audit.services import audit_refusal
from config.errors import DomainError, Forbidden, NotFound, Throttled
from config.untrusted import RefusedInput, json_max_bytes, load_json
from messaging import frames, publish, requests, selectors, services
from messaging.frames import FrameError
from messaging.groups import user_group
from messaging.models import Thread
from messaging.serializers import sync_data
from teams import sessions, throttle
from teams.models import User, session_tag
from teams.selectors import session_expires_at

if TYPE_CHECKING:
    # channels ships no types; its `database_sync_to_async` is asgiref's `SyncToAsync` (plus
    # the closing of stale connections) and wraps a function exactly as `sync_to_async` does.
    from asgiref.sync import sync_to_async as database_sync_to_async
else:
    from channels.db import database_sync_to_async

logger = logging.getLogger(__name__)

CYCLE_CLOSE_CODE = 4000
ACCESS_CHANGED_CLOSE_CODE = 4001  # reconnect at once and resync: some threads are gone
SIGNED_OUT_CLOSE_CODE = 4003  # do not reconnect: the session is no longer valid
DEFAULT_PING_SECONDS = 30.0
DEFAULT_GROUP_EXPIRY = 86400


def ping_seconds() -> float:
    return float(getattr(settings, "KIZUNA_WS_PING_SECONDS", DEFAULT_PING_SECONDS))


def group_expiry_seconds() -> float:
    config = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
    return float(config.get("group_expiry", DEFAULT_GROUP_EXPIRY))


def cycle_seconds() -> float:
    """How long a socket lives before the server closes it with code 4000.

    `KIZUNA_WS_CYCLE_SECONDS` if set; otherwise shortly before the channel layer's group expiry
    (two pings' margin, at most half the expiry), so that even if a refresh were lost the
    client rejoins before the layer forgets it.
    """
    explicit = getattr(settings, "KIZUNA_WS_CYCLE_SECONDS", None)
    if explicit:
        return float(explicit)
    expiry = group_expiry_seconds()
    margin = min(max(2 * ping_seconds(), 5.0), expiry / 2)
    return expiry - margin


def _thread_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FrameError("invalid_frame", _("thread はスレッドIDで指定してください。"))
    try:
        return int(value)
    except ValueError:
        raise FrameError("invalid_frame", _("thread はスレッドIDで指定してください。")) from None


def _known_threads(value: Any) -> dict[int, int]:
    if not isinstance(value, dict):
        raise FrameError("invalid_frame", _("threads は {スレッドID: seq} で指定してください。"))
    out: dict[int, int] = {}
    for key, seq in value.items():
        # Both are bigints in the database: a larger number is not a thread or a seq.
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
            raise FrameError("invalid_frame", _("seq は0以上の整数で指定してください。"))
        try:
            pk = int(key)
        except ValueError:
            pk = 0
        if not 0 < pk < 2**63:
            raise FrameError("invalid_frame", _("スレッドIDは整数で指定してください。"))
        out[pk] = seq
    return out


@database_sync_to_async
def _session_verdict(session_key: str | None, user: User, activity: bool) -> sessions.Verdict:
    return sessions.check_stored(session_key, user, activity=activity)


@database_sync_to_async
def _resync(user: User, known: dict[int, int]) -> dict[str, Any]:
    result = selectors.sync(user, known)
    return sync_data(result)


THREAD_LABEL = Thread._meta.label_lower


@database_sync_to_async
def _refused(user: User, kind: Any, content: dict[str, Any]) -> None:
    # The socket's refusals are audited here, as the middleware audits the HTTP ones.
    object_type, field = frames.subject_for(kind) or (THREAD_LABEL, "thread")
    try:
        audit_refusal(
            user,
            where=f"socket {str(kind)[:20]}",
            object_type=object_type,
            object_id=content.get(field),
        )
    except Exception:
        # Raised from the frame's error handler, it would end the socket's frame loop; the
        # refusal itself still goes out.
        logger.exception("socket refusal not audited")


@database_sync_to_async
def _post(user: User, content: dict[str, Any]) -> services.PostResult:
    # On the thread the post goes to anyway: the rate's round trip adds no hop.
    throttle.limit("post", user)
    return services.message_post(
        user,
        thread=_thread_id(content.get("thread")),
        client_id=content.get("client_id"),
        body=content.get("body"),
        kind=content.get("kind"),
        priority=content.get("priority"),
        reply_to_seq=content.get("reply_to"),
        attachments=content.get("attachments"),
    )


@database_sync_to_async
def _reply(user: User, content: dict[str, Any]) -> requests.Replied:
    throttle.limit("post", user)
    return requests.request_reply(
        user,
        request_id=content.get("request"),
        kind=content.get("kind"),
        client_id=content.get("client_id"),
        body=content.get("body") or "",
    )


class KizunaConsumer(AsyncJsonWebsocketConsumer):
    user: User  # set by `connect` before the socket is accepted
    group: str | None = None
    keepalive: asyncio.Task[None] | None = None
    session_key: str | None = None
    session_tag = ""  # names this socket's session in revocations
    session_checked_at = float("-inf")  # loop time a post last touched the session

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler of `message`, without channels' per-message connection clean-up.

        channels hops to the sync thread before every message to close stale database
        connections. Here every database call already goes through `database_sync_to_async`,
        which does that clean-up itself, and most messages are relayed events that never touch
        the database: with the hop, one post to a team of 100 cost 100 trips through the
        process's one sync thread, queued behind the HTTP requests (bench/: ~340 µs of CPU
        per delivered frame).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user = user
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.session_tag = session_tag(self.session_key)
        if not await self._session_alive(activity=False):
            await self.close()  # an idle, expired or ended session opens no socket
            return
        # For this connection's task, whose context the database calls copy: audit rows of
        # posts and reads made over the socket carry its address and user agent.
        current_request.set(socket_context(self.scope))
        publish.serve_on(asyncio.get_running_loop())  # posts made here publish via the loop
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.keepalive = asyncio.create_task(self._keepalive())

    async def disconnect(self, code: int) -> None:
        for hook in frames.disconnect_hooks():
            # Another app's state of this socket (a conference room it was in).
            try:
                await hook(self)
            except Exception:
                logger.exception("disconnect hook failed for %s", self.channel_name)
        if self.keepalive is not None and self.keepalive is not asyncio.current_task():
            self.keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.keepalive
        if self.group is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self.channel_layer, "close_channel"):  # messaging.layer: free the inbox
            await self.channel_layer.close_channel(self.channel_name)

    async def _keepalive(self) -> None:
        """Ping, refresh the group membership, cycle the socket before the group expires, and
        close it (4003, the client goes to the login page) once its session has ended."""
        loop = asyncio.get_running_loop()
        interval = min(ping_seconds(), sessions.SOCKET_CHECK_SECONDS)
        deadline = loop.time() + cycle_seconds()
        expires = await self._session_expiry()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                await self.close(code=CYCLE_CLOSE_CODE)
                return
            wait = min(interval, remaining)
            if expires is not None:
                # Wake when the store's expiry date passes, not up to a tick later.
                wait = min(wait, max(expires - loop.time(), 0.0) + 0.05)
            await asyncio.sleep(wait)
            if loop.time() >= deadline:
                continue
            if not await self._session_alive(activity=False):
                await self.close(code=SIGNED_OUT_CLOSE_CODE)
                return
            if expires is not None and loop.time() >= expires:
                expires = await self._session_expiry()  # extended meanwhile: its new date
            try:
                await self.send_json({"type": "ping"})
                # group_add again moves our membership's timestamp forward: the layer only
                # forgets channels that have not been (re)added for group_expiry seconds.
                await self.channel_layer.group_add(self.group, self.channel_name)
            except Exception:
                logger.exception("keepalive failed for %s", self.channel_name)

    async def _post_counts_as_activity(self) -> bool:
        """A post is a person's action: it keeps the session from idling. The store is asked
        (and touched) at most once per `teams.sessions.SOCKET_CHECK_SECONDS`, which is how
        finely it keeps the time of the last action anyway: asking on every post cost a
        session read and a thread hop per post. Between asks, an ended session is still
        caught at once by its revocation, and an expired one by the keepalive."""
        loop = asyncio.get_running_loop()
        if loop.time() - self.session_checked_at < sessions.SOCKET_CHECK_SECONDS:
            return True
        if not await self._session_alive(activity=True):
            return False
        self.session_checked_at = loop.time()
        return True

    async def _session_expiry(self) -> float | None:
        """The loop time at which the session store stops honouring this socket's session;
        None when it cannot tell (or the date has passed: the next tick asks the store)."""
        expiry = await database_sync_to_async(session_expires_at)(self.session_key)
        if expiry is None:
            return None
        loop = asyncio.get_running_loop()
        left = (expiry - timezone.now()).total_seconds()
        return loop.time() + left if left > 0 else None

    async def _session_alive(self, *, activity: bool) -> bool:
        """Whether the session this socket was opened with still stands (teams.sessions).
        Pings and resyncs are not activity: only a post, which a person makes, is."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        try:
            verdict = await _session_verdict(key, self.user, activity)
        except Exception:
            logger.exception("session check failed for %s", self.channel_name)
            return True  # a database hiccup is not a logout; the next tick asks again
        return verdict is sessions.Verdict.OK

    # --- client frames -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error("invalid_frame", _("JSONのテキストフレームで送ってください。"))
            return
        if len(text_data) > json_max_bytes():
            await self._error("invalid_frame", _("フレームが大きすぎます。"))
            return
        try:
            content = load_json(text_data)
        except RefusedInput as exc:
            # Unreadable JSON keeps its own code; too deep or bad text is a bad frame.
            code = "invalid_json" if exc.code == "invalid_json" else "invalid_frame"
            await self._error(code, str(exc.message), fields=exc.fields or None)
            return
        if not isinstance(content, dict):
            await self._error("invalid_frame", _("フレームはJSONオブジェクトです。"))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        ref = content.get("client_id") if kind in ("post", "request.reply") else None
        try:
            if kind == "ping":
                await self.send_json({"type": "pong"})
            elif kind == "pong":
                pass  # the answer to our ping: nothing to do
            elif kind == "resync":
                data = await _resync(self.user, _known_threads(content.get("threads")))
                await self.send_json({"type": "resync", **data})
            elif kind == "post":
                if not await self._post_counts_as_activity():
                    await self.close(code=SIGNED_OUT_CLOSE_CODE)
                    return
                result = await _post(self.user, content)
                await self.send_json(
                    {
                        "type": "ack",
                        "client_id": str(result.message.client_id),
                        "thread": result.message.thread_id,
                        "seq": result.message.seq,
                        "id": result.message.pk,
                        "created": result.created,
                    }
                )
            elif kind == "request.reply":
                # A typed reply to a request: the same service as the API's.
                replied = await _reply(self.user, content)
                await self.send_json(
                    {
                        "type": "request.ack",
                        "client_id": str(replied.reply.message.client_id),
                        "request": replied.request.pk,
                        "status": str(replied.request.status),
                        "created": replied.created,
                    }
                )
            elif (handler := frames.handler_for(kind)) is not None:
                # A frame another app answers (messaging.frames): conferences' room signaling.
                await handler(self, content)
            else:
                raise FrameError("unknown_type", _("不明な種類のフレームです。"))
        except FrameError as exc:
            await self._error(exc.code, exc.message, ref=ref)
        except NotFound:
            await _refused(self.user, kind, content)
            await self._error("not_found", _("見つかりません。"), ref=ref)
        except Forbidden as exc:
            await _refused(self.user, kind, content)
            await self._error(exc.code, exc.message, ref=ref)
        except DomainError as exc:
            await self._error(exc.code, exc.message, fields=exc.fields, ref=ref)
        except Throttled as exc:
            # Not a refusal of the post: the client keeps it and sends it again after this.
            await self._error(exc.code, exc.message, ref=ref, retry_after=exc.retry_after)
        except Exception:
            # Never let one bad frame kill the socket (or the consumer's other work).
            logger.exception("socket frame failed: %r", kind)
            await self._error("server_error", _("処理できませんでした。"), ref=ref)

    async def _error(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[Any]] | None = None,
        ref: Any = None,
        retry_after: int | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": str(message)}
        if fields:
            frame["fields"] = {k: [str(m) for m in v] for k, v in fields.items()}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        if ref is not None:
            frame["client_id"] = str(ref)
        await self.send_json(frame)

    async def send_to(self, channel: str, frame: dict[str, Any]) -> None:
        """Send `frame` to another socket (by its channel name), as a relayed event."""
        await self.channel_layer.send(
            channel, {"type": "kizuna.event", "text": json.dumps(frame, ensure_ascii=False)}
        )

    # --- events from the channel layer ---------------------------------------------------

    async def kizuna_event(self, message: dict[str, Any]) -> None:
        """Relay one live event, already encoded (`messaging.publish`, type "kizuna.event")."""
        await self.send(text_data=message["text"])

    async def kizuna_lost(self, message: dict[str, Any]) -> None:
        """The layer's Redis subscription broke and is back: events may have been lost while
        it was down. Cycling makes the client reconnect and resync from the database."""
        await self.close(code=CYCLE_CLOSE_CODE)

    async def kizuna_revoke(self, message: dict[str, Any]) -> None:
        """Close this socket: its user's access changed (`publish.revoke_on_commit`), or
        sessions of theirs ended (`publish.revoke_sessions_on_commit`: only if this socket's
        session is among them)."""
        sessions = message.get("sessions")
        if sessions is not None and self.session_tag not in sessions:
            return
        signed_out = message.get("reason") == "signed_out"
        await self.close(code=SIGNED_OUT_CLOSE_CODE if signed_out else ACCESS_CHANGED_CLOSE_CODE)
