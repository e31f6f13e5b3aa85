"""The meeting room's signaling over the one `/ws/` socket: thin, like the rest.

Frames (all with `room`, the room's name "<conference id>-<occurrence start, epoch s>"):
`room.join`, `room.leave`, `room.offer` / `room.answer` (`to`: a peer, `sdp`: {type, sdp}),
`room.ice` (`to`, `candidate`: the browser's RTCIceCandidateInit, or null when gathering
ends), `room.chat` (`text`), `room.admit` (`peer`, the organizer's), `room.here` (every 30 s:
still in the room or its lobby). Each is checked
strictly: unknown fields, a wrong type or an over-long value are `invalid_frame`. Who may be
in a room, and when, is `conferences.services.room_check`; a frame for a room the socket is not
in is `not_in_room`. Registered with messaging's consumer in `conferences.receivers`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import services
from conferences.ice import ice_servers
from messaging.frames import FrameError, Socket

if TYPE_CHECKING:
    from asgiref.sync import sync_to_async as database_sync_to_async
else:
    from channels.db import database_sync_to_async

PEER = re.compile(r"^[0-9a-f]{16}$")
SDP_MAX = 64 * 1024
CANDIDATE_MAX = 2048
CHAT_MAX = 1000


def _fields(content: dict[str, Any], allowed: set[str]) -> None:
    extra = set(content) - allowed - {"type"}
    if extra:
        raise FrameError(
            "invalid_frame",
            _("不明な項目があります: %(names)s") % {"names": ", ".join(sorted(extra))},
        )


def _peer(value: Any) -> str:
    if not isinstance(value, str) or not PEER.match(value):
        raise FrameError("invalid_frame", _("to / peer は参加者IDで指定してください。"))
    return value


def _sdp(value: Any, kind: str) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or set(value) != {"type", "sdp"}
        or value.get("type") != kind
        or not isinstance(value.get("sdp"), str)
        or not 0 < len(value["sdp"]) <= SDP_MAX
    ):
        raise FrameError("invalid_frame", _("sdp の形式が正しくありません。"))
    return {"type": kind, "sdp": value["sdp"]}


def _candidate(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    allowed = {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
    ok = (
        isinstance(value, dict)
        and set(value) <= allowed
        and isinstance(value.get("candidate"), str)
        and len(value["candidate"]) <= CANDIDATE_MAX
        and (value.get("sdpMid") is None or isinstance(value["sdpMid"], str))
        and len(value.get("sdpMid") or "") <= 64
        and (
            value.get("sdpMLineIndex") is None
            or (
                isinstance(value["sdpMLineIndex"], int)
                and not isinstance(value["sdpMLineIndex"], bool)
                and 0 <= value["sdpMLineIndex"] < 64
            )
        )
        and (value.get("usernameFragment") is None or isinstance(value["usernameFragment"], str))
        and len(value.get("usernameFragment") or "") <= 256
    )
    if not ok:
        raise FrameError("invalid_frame", _("candidate の形式が正しくありません。"))
    return {k: value[k] for k in allowed if k in value}


async def join(socket: Socket, content: dict[str, Any]) -> None:
    _fields(content, {"room"})
    room = content.get("room")
    joined = await database_sync_to_async(services.room_join)(
        socket.user, room=room, channel=socket.channel_name
    )
    me = joined.me
    if not me.admitted:
        await socket.send_json({"type": "room.lobby", "room": room, "peer": me.peer})
        for organizer in joined.organizers:
            await socket.send_to(
                organizer.channel, {"type": "room.waiting", "room": room, "peer": me.public()}
            )
        return
    await _welcome(socket.user.pk, me, joined.peers, room, socket)


async def _welcome(
    user_id: int, me: services.Peer, peers: list[services.Peer], room: Any, socket: Socket
) -> None:
    """Tell the newcomer who is there (it offers to each), and each of them who came."""
    welcome = {
        "type": "room.joined",
        "room": room,
        "peer": me.peer,
        "organizer": me.is_organizer,
        "peers": [p.public() for p in peers],
        "ice_servers": ice_servers(user_id),
    }
    if socket.channel_name == me.channel:
        await socket.send_json(welcome)
    else:
        await socket.send_to(me.channel, welcome)
    for other in peers:
        await socket.send_to(
            other.channel, {"type": "room.peer-joined", "room": room, "peer": me.public()}
        )


async def admit(socket: Socket, content: dict[str, Any]) -> None:
    _fields(content, {"room", "peer"})
    room = content.get("room")
    joined = await database_sync_to_async(services.room_admit)(
        socket.user, room=room, peer=_peer(content.get("peer"))
    )
    await _welcome(joined.me.user_id, joined.me, joined.peers, room, socket)


def _relay(kind: str) -> Any:
    async def relay(socket: Socket, content: dict[str, Any]) -> None:
        body_field = "candidate" if kind == "room.ice" else "sdp"
        _fields(content, {"room", "to", body_field})
        to = _peer(content.get("to"))
        if kind == "room.ice":
            body: Any = _candidate(content.get("candidate"))
        else:
            body = _sdp(content.get("sdp"), kind.removeprefix("room."))
        me, channel = await database_sync_to_async(services.room_target)(
            socket.user, room=content.get("room"), channel=socket.channel_name, to=to
        )
        await socket.send_to(
            channel, {"type": kind, "room": content["room"], "from": me.peer, body_field: body}
        )

    return relay


async def chat(socket: Socket, content: dict[str, Any]) -> None:
    _fields(content, {"room", "text"})
    text = content.get("text")
    if not isinstance(text, str) or not 0 < len(text.strip()) <= CHAT_MAX:
        raise FrameError(
            "invalid_frame", _("text は1〜%(n)d文字で入力してください。") % {"n": CHAT_MAX}
        )
    me, members = await database_sync_to_async(services.room_members)(
        socket.user, room=content.get("room"), channel=socket.channel_name
    )
    frame = {
        "type": "room.chat",
        "room": content["room"],
        "from": me.public(),
        "text": text.strip(),
        "at": timezone.now().isoformat(),
    }
    for member in members:
        await socket.send_to(member.channel, frame)


async def here(socket: Socket, content: dict[str, Any]) -> None:
    _fields(content, {"room"})
    await database_sync_to_async(services.room_here)(
        socket.user, room=content.get("room"), channel=socket.channel_name
    )
    await socket.send_json({"type": "room.here", "room": content["room"]})


async def leave(socket: Socket, content: dict[str, Any]) -> None:
    _fields(content, {"room"})
    room = content.get("room")
    await database_sync_to_async(services.room_sender)(
        socket.user, room=room, channel=socket.channel_name
    )
    await _left(socket, room)
    await socket.send_json({"type": "room.left", "room": room})


async def _left(socket: Socket, room: Any) -> None:
    for gone in await database_sync_to_async(services.room_leave)(
        channel=socket.channel_name, room=room
    ):
        for channel in gone.others:
            await socket.send_to(
                channel, {"type": "room.peer-left", "room": gone.room, "peer": gone.peer}
            )


async def closed(socket: Socket) -> None:
    """The socket closed: out of every room, and the others told."""
    if getattr(socket, "user", None) is None or not getattr(socket, "channel_name", None):
        return
    await _left(socket, None)


HANDLERS = {
    "room.join": join,
    "room.admit": admit,
    "room.offer": _relay("room.offer"),
    "room.answer": _relay("room.answer"),
    "room.ice": _relay("room.ice"),
    "room.chat": chat,
    "room.leave": leave,
    "room.here": here,
}
