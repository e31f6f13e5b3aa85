"""The conference room in real Chromium against a real Daphne: the organizer and an invitee
reach a connected WebRTC peer connection on loopback (fake camera and microphone), someone
not invited is refused, and the minutes the organizer saves appear in the patient's thread."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conferences import services
from conferences.models import Attendance, Conference
from notifications.models import Notice
from tests.browser.conftest import TABLET

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

CONNECT = 30_000  # ms: ICE on loopback, with a fake camera


@pytest.fixture(scope="module")
def meeting(browser_data: Any, django_db_blocker: Any) -> Iterator[Conference]:
    """An online case review that started five minutes ago, committed for the server (module
    scope: made outside the test's transaction, which the server would not see)."""
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    with django_db_blocker.unblock():
        conference = services.schedule_conference(
            browser_data.primary,
            kind="case_review",
            title="オンライン事例検討会",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            invitees=[browser_data.nurse.pk],
            agenda=[
                {
                    "patient": browser_data.patient.pk,
                    "presenter": browser_data.nurse.pk,
                    "question": "退院後の疼痛管理",
                }
            ],
        )
    yield conference
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        Notice.objects.filter(kind__startswith="conference.").delete()
        Conference.objects.filter(pk=conference.pk).delete()


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    made = []
    for _ in range(3):
        ctx = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
        ctx.set_default_timeout(15_000)
        made.append(ctx)
    yield made
    for ctx in made:
        with contextlib.suppress(Exception):
            ctx.close()


def test_two_invitees_connect_a_third_is_refused_and_minutes_reach_the_thread(
    browser_data, meeting, contexts, login, live_server_url, shoot, django_db_blocker
):
    primary, nurse, outsider = (ctx.new_page() for ctx in contexts)
    room = (
        f"{live_server_url}/conferences/{meeting.pk}/room/"
        f"?occurrence={meeting.starts_at.astimezone(dt.UTC).isoformat().replace('+', '%2B')}"
    )
    login(primary, browser_data.primary)
    primary.goto(room)
    expect(primary.locator("#room")).to_have_attribute("data-state", "in-room")
    login(nurse, browser_data.nurse)
    nurse.goto(room)
    expect(nurse.locator("#room")).to_have_attribute("data-state", "in-room")
    # Each side's RTCPeerConnection reports "connected": media flows between the two.
    expect(primary.locator("#room")).to_have_attribute("data-connected", "1", timeout=CONNECT)
    expect(nurse.locator("#room")).to_have_attribute("data-connected", "1", timeout=CONNECT)
    expect(nurse.locator("video[data-peer]")).to_have_count(1)
    shoot(nurse, "conference-room")

    # The in-room chat reaches the other side.
    nurse.fill("#chat-text", "聞こえています")
    nurse.press("#chat-text", "Enter")
    expect(primary.locator("#chat-log")).to_contain_text("聞こえています")

    # Someone not invited: the room page is not found, and the socket refuses the join.
    login(outsider, browser_data.outsider)
    response = outsider.goto(room)
    assert response is not None
    assert response.status == 404
    outsider.goto(f"{live_server_url}/")
    refused = outsider.evaluate(
        """(room) => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws/`);
            ws.onopen = () => ws.send(JSON.stringify({type: "room.join", room}));
            ws.onmessage = (e) => { const f = JSON.parse(e.data);
                if (f.type !== "ping") { resolve(f); ws.close(); } };
        })""",
        services.room_name(meeting.pk, meeting.starts_at),
    )
    assert refused["type"] == "error"
    assert refused["code"] == "not_found"

    # The organizer writes the minutes; they land in the patient's contact book.
    primary.goto(f"{live_server_url}/conferences/{meeting.pk}/")
    primary.click(".minutes-editor summary")
    primary.fill("textarea[name$='-summary']", "疼痛はコントロール良好。在宅継続。")
    with primary.expect_navigation():
        primary.click(".minutes-editor button[type=submit]")
    expect(primary.locator(".messages")).to_contain_text("連絡帳に投稿しました")
    shoot(primary, "conference-page")
    primary.goto(f"{live_server_url}/conferences/")
    expect(primary.locator("table.month")).to_contain_text("オンライン事例検討会")
    shoot(primary, "conference-calendar")
    primary.goto(f"{live_server_url}/conferences/new/")
    primary.select_option("#id_repeat", "monthly_weekday")
    primary.fill("#id_date", "2026-12-17")
    primary.fill("#id_start_time", "19:00")
    primary.fill("#id_count", "12")
    expect(primary.locator("#recurrence-words")).to_have_text("毎月第3木曜日 19:00(12回)")
    shoot(primary, "conference-schedule")
    nurse.goto(f"{live_server_url}/patients/{browser_data.patient.pk}/")
    expect(nurse.locator("#thread-card")).to_contain_text("【カンファレンス記録】")
    expect(nurse.locator("#thread-card")).to_contain_text("疼痛はコントロール良好。在宅継続。")
    shoot(nurse, "conference-minutes-in-thread")

    with django_db_blocker.unblock():
        rows = list(Attendance.objects.filter(conference=meeting).order_by("joined_at"))
    assert [r.user_id for r in rows] == [browser_data.primary.pk, browser_data.nurse.pk]
