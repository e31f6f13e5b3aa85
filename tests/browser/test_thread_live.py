"""The live contact-book thread in two real Chromium profiles against a real Daphne server.

The nurse and the primary physician each open the patient page in their own browser context
(own cookies, own socket). Each test leaves screenshots in tests/browser/artifacts/.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import expect

from config.errors import Throttled
from messaging.models import Message, MessageRevision, Thread
from messaging.serializers import MessagePostInputSerializer
from teams import throttle
from teams.models import User
from tests.browser.conftest import TABLET

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 8_000  # ms: how long a live change may take to show
OPEN = 1  # WebSocket.OPEN


@pytest.fixture(scope="package", autouse=True)
def _threads_removed_at_the_end(browser_data: Any, django_db_blocker: Any) -> Iterator[None]:
    """The served pages make the patients' contact books and the tests post in them; remove
    them once the package is done so that the package clean-up can delete the patients."""
    yield
    patients = [browser_data.patient.pk, browser_data.other_patient.pk]
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        messages = Message.objects.filter(thread__patient__in=patients)
        messages.update(reply_to=None)
        MessageRevision.objects.filter(message__in=messages).delete()
        messages.delete()
        Thread.objects.filter(patient__in=patients).delete()


@pytest.fixture
def other_context(browser: Any) -> Iterator[Any]:
    """A second browser profile for the other person."""
    ctx = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
    ctx.set_default_timeout(15_000)
    yield ctx
    with contextlib.suppress(Exception):
        ctx.close()


def _open_thread(page: Any, login: Any, user: User, url: str) -> None:
    login(page, user)
    page.goto(url)
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)


def _two_pages(page: Any, other_context: Any, login: Any, data: Any, base: str) -> Any:
    url = f"{base}/patients/{data.patient.pk}/"
    _open_thread(page, login, data.nurse, url)
    doctor = other_context.new_page()
    _open_thread(doctor, login, data.primary, url)
    return doctor


def _post_from(page: Any, body: str) -> None:
    page.locator("#thread-body").scroll_into_view_if_needed()
    page.fill("#thread-body", body)
    page.get_by_role("button", name="送信", exact=True).click()


def _messages_with(page: Any, body: str) -> Any:
    return page.locator("#thread-messages li.msg", has_text=body)


def _unique(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:6]}]"


def test_a_post_appears_live_on_the_other_page_once_and_its_read_count_updates(
    page, other_context, login, live_server_url, browser_data, shoot
):
    doctor = _two_pages(page, other_context, login, browser_data, live_server_url)
    first_line = _unique("血圧 128/76")
    body = first_line + "\n@" + browser_data.primary.username + " 先生ご確認ください"
    _post_from(page, body)

    on_doctor = _messages_with(doctor, first_line)
    expect(on_doctor).to_have_count(1, timeout=LIVE)
    mention = on_doctor.locator("mark.mention")
    expect(mention).to_have_text("@" + str(browser_data.primary))  # shown by name
    expect(mention).to_have_attribute("data-username", browser_data.primary.username)
    expect(on_doctor.locator(".msg-author")).to_have_text(str(browser_data.nurse))
    mine = _messages_with(page, first_line)
    expect(mine).to_have_count(1, timeout=LIVE)
    expect(page.locator("#thread-outbox li")).to_have_count(0)

    # The physician reads it (on screen, page visible): the nurse's copy counts 既読 1.
    on_doctor.scroll_into_view_if_needed()
    expect(mine.locator(".msg-read")).to_have_text("既読 1", timeout=LIVE)
    doctor.wait_for_timeout(800)  # a late duplicate event would show up by now
    expect(on_doctor).to_have_count(1)
    expect(mine).to_have_count(1)
    assert Message.objects.filter(body=body.strip()).count() == 1
    # The socket was open, so the post went over it and its ack settled it.
    stats = page.evaluate("() => window.kizunaThread.stats")
    assert (stats["socketPosts"], stats["httpPosts"]) == (1, 0)
    shoot(page, "thread-live-nurse")
    shoot(doctor, "thread-live-physician")


def test_a_post_written_offline_waits_and_is_sent_once_when_back_online(
    context, page, other_context, login, live_server_url, browser_data, shoot
):
    doctor = _two_pages(page, other_context, login, browser_data, live_server_url)
    body = _unique("オフラインで記録: 体温 37.8℃")
    context.set_offline(True)
    _post_from(page, body)

    pending = page.locator("#thread-outbox li.pending", has_text=body)
    expect(pending).to_have_count(1)
    expect(pending.locator(".msg-state")).to_have_text(
        "送信待ち: オフラインです"
    )  # with the reason
    stored = page.evaluate(
        "() => Object.keys(localStorage).filter((k) => k.startsWith('kizuna.outbox.'))"
        ".map((k) => localStorage.getItem(k)).join('')"
    )
    assert body in stored  # kept on the device before any attempt to send
    shoot(page, "thread-offline-pending")
    assert Message.objects.filter(body=body).count() == 0

    context.set_offline(False)
    expect(_messages_with(doctor, body)).to_have_count(1, timeout=LIVE)
    expect(_messages_with(page, body)).to_have_count(1, timeout=LIVE)
    expect(pending).to_have_count(0)
    page.wait_for_timeout(800)
    expect(_messages_with(doctor, body)).to_have_count(1)
    assert Message.objects.filter(body=body).count() == 1
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 0


def test_a_post_whose_socket_closes_before_the_ack_is_sent_again_and_stored_once(
    page, other_context, login, live_server_url, browser_data, shoot
):
    doctor = _two_pages(page, other_context, login, browser_data, live_server_url)
    body = _unique("ack を待つ間に切断")
    # The next post frame leaves, then the socket closes at once: its ack cannot arrive.
    page.evaluate(
        """() => {
            const sock = window.kizunaThread.socket();
            const send = sock.send.bind(sock);
            sock.send = (data) => {
                send(data);
                if (JSON.parse(data).type === "post") { sock.close(); }
            };
        }"""
    )
    _post_from(page, body)

    expect(_messages_with(page, body)).to_have_count(1, timeout=LIVE)
    expect(_messages_with(doctor, body)).to_have_count(1, timeout=LIVE)
    expect(page.locator("#thread-outbox li")).to_have_count(0)
    page.wait_for_timeout(800)
    expect(_messages_with(page, body)).to_have_count(1)
    stats = page.evaluate("() => window.kizunaThread.stats")
    assert stats["socketPosts"] == 1
    assert stats["httpPosts"] >= 1  # sent again over HTTP, with the same client_id
    assert Message.objects.filter(body=body).count() == 1
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 0
    shoot(page, "thread-ack-lost")


def test_a_too_long_post_shows_the_servers_error_and_keeps_the_text(
    page, login, live_server_url, browser_data, shoot
):
    _open_thread(
        page, login, browser_data.nurse, f"{live_server_url}/patients/{browser_data.patient.pk}/"
    )
    body = "あ" * 10_001
    with translation.override("ja"):
        refused = MessagePostInputSerializer(data={"client_id": str(uuid.uuid4()), "body": body})
        assert not refused.is_valid()
        expected = str(refused.errors["body"][0])

    _post_from(page, body)
    failed = page.locator("#thread-outbox li.failed")
    expect(failed).to_have_count(1, timeout=LIVE)
    expect(failed.locator(".msg-state")).to_contain_text(expected)
    expect(page.locator("#thread-body-error")).to_have_text(expected)
    expect(page.locator("#thread-body")).to_have_value(body)
    expect(page.locator("#thread-body")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 0
    assert not Message.objects.filter(body=body).exists()
    shoot(page, "thread-too-long")


def _empty_post_bucket(user: User) -> int:
    """Use up `user`'s posts from here (the server shares the cache, Redis): the seconds until
    the next one is let through."""
    for _ in range(1_000):
        try:
            throttle.limit("post", user)
        except Throttled as exc:
            return exc.retry_after
    raise AssertionError("the post limit never refused")


def test_a_post_over_the_rate_waits_in_the_outbox_and_is_sent_when_the_server_says(
    page, login, live_server_url, browser_data, shoot
):
    _open_thread(
        page, login, browser_data.nurse, f"{live_server_url}/patients/{browser_data.patient.pk}/"
    )
    assert _empty_post_bucket(browser_data.nurse) <= 2  # the default: 30 a minute
    body = _unique("送信が多すぎるときも消えない")
    _post_from(page, body)

    # Refused over the socket with rate_limited: kept, greyed, with the server's reason ...
    waiting = page.locator("#thread-outbox li.pending", has_text=body)
    expect(waiting.locator(".msg-state")).to_contain_text("送信が多すぎます", timeout=LIVE)
    expect(page.locator("#thread-outbox li.failed")).to_have_count(0)
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 1
    shoot(page, "thread-rate-limited")
    # ... and sent again after retry_after, once.
    expect(_messages_with(page, body)).to_have_count(1, timeout=LIVE)
    expect(page.locator("#thread-outbox li")).to_have_count(0)
    assert Message.objects.filter(body=body).count() == 1
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 0


def test_a_page_whose_socket_dropped_gets_the_missed_post_by_resync(
    page, other_context, login, live_server_url, browser_data, shoot
):
    doctor = _two_pages(page, other_context, login, browser_data, live_server_url)
    thread_id = page.evaluate(
        "() => JSON.parse(document.getElementById('thread-data').textContent).thread"
    )
    body = _unique("ソケット切断中の投稿")

    page.evaluate("() => window.kizunaThread.socket().close()")
    expect(page.locator("#thread-card")).not_to_have_attribute("data-live", "open")
    status, message = doctor.evaluate(
        """async ([url, body]) => {
            const token = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/)[1];
            const response = await fetch(url, {
                method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                body: JSON.stringify({client_id: crypto.randomUUID(), body}),
            });
            return [response.status, await response.json()];
        }""",
        [f"/api/v1/threads/{thread_id}/messages/", body],
    )
    assert status == 201, message
    # Posted while the nurse's socket was down (it waits 1 s before reconnecting): the live
    # event had nowhere to go, so only the resync after reconnecting can bring it.
    assert page.evaluate("() => window.kizunaThread.state()") != OPEN

    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)
    expect(_messages_with(page, body)).to_have_count(1, timeout=LIVE)
    # It came by the reconnect's recovery (the resync, or the refresh of what is on screen,
    # whichever answers first), never as a live event.
    assert message["seq"] not in page.evaluate("() => window.kizunaThread.stats.liveMerged")
    assert page.evaluate("() => window.kizunaThread.stats.reconnects") >= 1
    assert page.evaluate("() => window.kizunaThread.lastSeq()") >= message["seq"]
    expect(_messages_with(doctor, body)).to_have_count(1, timeout=LIVE)
    shoot(page, "thread-resync")


def test_logout_removes_the_outbox_and_drafts_from_the_device(
    page, login, live_server_url, browser_data
):
    _open_thread(
        page, login, browser_data.nurse, f"{live_server_url}/patients/{browser_data.patient.pk}/"
    )
    page.fill("#thread-body", "書きかけの申し送り")
    page.evaluate(
        """() => localStorage.setItem('kizuna.outbox.0.0',
            JSON.stringify([{client_id: crypto.randomUUID(), body: '未送信', kind: 'note'}]))"""
    )
    page.wait_for_function(
        "() => localStorage.getItem(Object.keys(localStorage)"
        ".find((k) => k.startsWith('kizuna.draft.')) || 'none') !== null"
    )
    with page.expect_navigation(url=re.compile(r"/login/$")):
        page.get_by_role("button", name="ログアウト").click()
    keys = page.evaluate("() => Object.keys(localStorage)")
    assert [k for k in keys if k.startswith("kizuna.")] == []
