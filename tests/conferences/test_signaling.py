"""The meeting room's signaling over /ws/: only invitees of the occurrence, only in its
window, strictly checked frames, a frame for another room refused with the socket kept, the
lobby, the cap of 8, and the attendance log."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conferences import services
from conferences.models import Attendance
from tests.conferences.conftest import soon
from tests.factories import MembershipFactory, UserFactory
from tests.messaging.test_consumer import connected, next_event

pytestmark = pytest.mark.django_db(transaction=True)

SDP = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
PEER = "0123456789abcdef"


@pytest.fixture
def meeting(net, schedule):
    """An online case review that started five minutes ago; its room's name."""
    conference = schedule(starts_at=soon(-5))
    return conference, services.room_name(conference.pk, conference.starts_at)


async def join(comm, room):
    await comm.send_json_to({"type": "room.join", "room": room})
    return await next_event(comm)


async def test_two_invitees_join_and_an_offer_reaches_the_other(net, meeting):
    _conference, room = meeting
    nurse = await connected(net.nurse)
    pharmacist = await connected(net.pharmacist)
    first = await join(nurse, room)
    assert first["type"] == "room.joined"
    assert first["peers"] == []
    assert first["ice_servers"] == []
    second = await join(pharmacist, room)
    assert [p["name"] for p in second["peers"]] == ["鈴木 恵"]
    arrived = await next_event(nurse)
    assert arrived["type"] == "room.peer-joined"
    assert arrived["peer"]["peer"] == second["peer"]
    await pharmacist.send_json_to(
        {"type": "room.offer", "room": room, "to": first["peer"], "sdp": SDP}
    )
    offer = await next_event(nurse)
    assert offer == {"type": "room.offer", "room": room, "from": second["peer"], "sdp": SDP}
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0",
                 "sdpMLineIndex": 0}  # fmt: skip
    await nurse.send_json_to(
        {"type": "room.ice", "room": room, "to": second["peer"], "candidate": candidate}
    )
    ice = await next_event(pharmacist)
    assert ice["candidate"] == candidate
    await nurse.disconnect()
    left = await next_event(pharmacist)
    assert left == {"type": "room.peer-left", "room": room, "peer": first["peer"]}
    await pharmacist.disconnect()
    rows = await database_sync_to_async(list)(Attendance.objects.order_by("joined_at"))
    assert [r.user_id for r in rows] == [net.nurse.pk, net.pharmacist.pk]
    assert all(r.left_at is not None and r.left_at >= r.joined_at for r in rows)


async def test_someone_not_invited_is_refused_and_keeps_the_socket(net, meeting):
    _conference, room = meeting
    outsider = await connected(net.outsider)
    refused = await join(outsider, room)
    assert refused["type"] == "error"
    assert refused["code"] == "not_found"
    await outsider.send_json_to({"type": "ping"})
    assert (await next_event(outsider))["type"] == "pong"
    await outsider.disconnect()


async def test_a_frame_for_another_room_is_refused_and_the_socket_kept(net, meeting, schedule):
    _conference, room = meeting
    other = await database_sync_to_async(schedule)(starts_at=soon(-5), title="別の会議")
    other_room = services.room_name(other.pk, other.starts_at)
    nurse = await connected(net.nurse)
    pharmacist = await connected(net.pharmacist)
    await join(nurse, room)
    joined = await join(pharmacist, room)
    await next_event(nurse)  # peer-joined
    await nurse.send_json_to(
        {"type": "room.offer", "room": other_room, "to": joined["peer"], "sdp": SDP}
    )
    refused = await next_event(nurse)
    assert refused["type"] == "error"
    assert refused["code"] == "not_in_room"
    await nurse.send_json_to({"type": "room.chat", "room": room, "text": "聞こえますか"})
    chat = await next_event(nurse)
    assert chat["type"] == "room.chat"
    assert chat["text"] == "聞こえますか"
    assert (await next_event(pharmacist))["text"] == "聞こえますか"
    await nurse.disconnect()
    await pharmacist.disconnect()


async def test_the_room_is_closed_outside_its_window(net, schedule):
    conference = await database_sync_to_async(schedule)(starts_at=soon(120))
    room = services.room_name(conference.pk, conference.starts_at)
    nurse = await connected(net.nurse)
    refused = await join(nurse, room)
    assert refused["code"] == "forbidden"
    assert "30分前" in refused["message"]
    await nurse.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "room.join"},
        {"type": "room.join", "room": 12},
        {"type": "room.join", "room": "12-abc"},
        {"type": "room.join", "room": "1-1", "extra": True},
        {"type": "room.offer", "room": "1-1", "to": "x", "sdp": SDP},
        {"type": "room.offer", "room": "1-1", "to": PEER, "sdp": {"type": "answer", "sdp": "v=0"}},
        {"type": "room.ice", "room": "1-1", "to": PEER, "candidate": {"candidate": 5}},
        {"type": "room.chat", "room": "1-1", "text": "x" * 1001},
    ],
)  # fmt: skip
async def test_malformed_room_frames_get_invalid_frame(net, frame):
    nurse = await connected(net.nurse)
    await nurse.send_json_to(frame)
    refused = await next_event(nurse)
    assert refused["type"] == "error"
    assert refused["code"] == "invalid_frame", refused
    await nurse.disconnect()


async def test_a_late_invitee_waits_in_the_lobby_until_the_organizer_admits(net, schedule):
    conference = await database_sync_to_async(schedule)(starts_at=soon(-20))
    room = services.room_name(conference.pk, conference.starts_at)
    primary = await connected(net.primary)
    nurse = await connected(net.nurse)
    assert (await join(primary, room))["type"] == "room.joined"  # the organizer: never late
    lobby = await join(nurse, room)
    assert lobby["type"] == "room.lobby"
    waiting = await next_event(primary)
    assert waiting["type"] == "room.waiting"
    assert waiting["peer"]["peer"] == lobby["peer"]
    # In the lobby, nothing reaches the room.
    await nurse.send_json_to({"type": "room.chat", "room": room, "text": "入れますか"})
    assert (await next_event(nurse))["code"] == "not_in_room"
    await nurse.send_json_to({"type": "room.admit", "room": room, "peer": lobby["peer"]})
    assert (await next_event(nurse))["code"] == "forbidden"  # only the organizer admits
    await primary.send_json_to({"type": "room.admit", "room": room, "peer": lobby["peer"]})
    welcome = await next_event(nurse)
    assert welcome["type"] == "room.joined"
    assert [p["name"] for p in welcome["peers"]] == ["山田 太郎"]
    assert (await next_event(primary))["type"] == "room.peer-joined"
    await primary.disconnect()
    await nurse.disconnect()


async def test_the_room_holds_eight(net, schedule):
    people = []
    for n in range(8):
        user = await database_sync_to_async(UserFactory)(username=f"member{n}")
        await database_sync_to_async(MembershipFactory)(user=user, organization=net.station)
        people.append(user)
    conference = await database_sync_to_async(schedule)(
        starts_at=soon(-5), invitees=[p.pk for p in people], agenda=[]
    )
    room = services.room_name(conference.pk, conference.starts_at)
    sockets = []
    for user in people:
        comm = await connected(user)
        sockets.append(comm)
        assert (await join(comm, room))["type"] == "room.joined"
    primary = await connected(net.primary)
    full = await join(primary, room)
    assert full["code"] == "room_full"
    for comm in [*sockets, primary]:
        await comm.disconnect()


def test_room_names_round_trip(net, schedule):
    conference = schedule()
    room = services.room_name(conference.pk, conference.starts_at)
    assert room == f"{conference.pk}-{int(conference.starts_at.timestamp())}"
    assert services._room(room) == (conference.pk, conference.starts_at.astimezone(dt.UTC))


async def test_a_socket_not_heard_of_for_90_seconds_counts_as_gone(net, meeting):
    conference, room = meeting
    nurse = await connected(net.nurse)
    await join(nurse, room)
    await nurse.send_json_to({"type": "room.here", "room": room})
    assert (await next_event(nurse)) == {"type": "room.here", "room": room}
    # A socket that died with its Daphne process: it never said goodbye.
    stale = timezone.now() - dt.timedelta(seconds=120)
    await database_sync_to_async(Attendance.objects.create)(
        conference=conference, occurrence=conference.starts_at, user=net.pharmacist,
        peer="fedcba9876543210", channel="gone", joined_at=stale, seen_at=stale,
    )  # fmt: skip
    primary = await connected(net.primary)
    welcome = await join(primary, room)
    assert [p["name"] for p in welcome["peers"]] == ["鈴木 恵"]
    ghost = await database_sync_to_async(Attendance.objects.get)(channel="gone")
    assert ghost.left_at == stale  # it left when it was last seen
    await nurse.disconnect()
    await primary.disconnect()
