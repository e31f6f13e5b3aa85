"""The bell and the notifications page in real Chromium against Daphne, with a real Celery
worker delivering: the primary physician's bell moves live when the nurse @mentions them, and
the notifications page opens the thread."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from messaging.models import Message, MessageRevision, Thread
from tests.browser.conftest import TABLET
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 30_000  # ms: the worker writes the notice, then the in-app delivery reaches the socket


@pytest.fixture(scope="module", autouse=True)
def _threads_removed_at_the_end(browser_data: Any, django_db_blocker: Any) -> Iterator[None]:
    yield
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        messages = Message.objects.filter(thread__patient=browser_data.patient)
        messages.update(reply_to=None)
        MessageRevision.objects.filter(message__in=messages).delete()
        messages.delete()
        Thread.objects.filter(patient=browser_data.patient).delete()


@pytest.fixture
def doctor_context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
    ctx.set_default_timeout(15_000)
    yield ctx
    with contextlib.suppress(Exception):
        ctx.close()


@pytest.fixture
def worker(django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock(), celery_worker(("notify",), name="browser-notify"):
        yield


def test_the_bell_moves_live_on_a_mention_and_the_page_opens_the_thread(
    page, doctor_context, login, browser_data, live_server_url, worker, shoot
):
    data = browser_data
    doctor = doctor_context.new_page()
    login(doctor, data.primary)
    bell = doctor.locator("#notice-bell")
    expect(bell).to_have_attribute("data-live", "open", timeout=10_000)
    before = int(bell.get_attribute("data-unread") or "0")

    login(page, data.nurse)
    page.goto(f"{live_server_url}/patients/{data.patient.pk}/")
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=10_000)
    marker = uuid.uuid4().hex[:8]
    page.fill("#thread-body", f"@{data.primary.username} 先生ご確認ください {marker}")
    page.get_by_role("button", name="送信", exact=True).click()

    # No reload on the doctor's page: the count moves by itself.
    expect(bell).to_have_attribute("data-unread", str(before + 1), timeout=LIVE)
    expect(doctor.locator("#notice-count")).to_have_text(str(before + 1))
    shoot(doctor, "notifications-bell")

    bell.click()
    doctor.wait_for_url(f"{live_server_url}/notifications/")
    item = doctor.locator(
        "#notice-list li.notice-unread", has_text="鈴木 恵さんがあなたをメンションしました"
    )
    expect(item.first).to_be_visible()
    shoot(doctor, "notifications-page")
    item.first.locator("button.notice-open").click()
    doctor.wait_for_url(f"{live_server_url}/patients/{data.patient.pk}/#thread")
    expect(doctor.locator("#thread-messages li.msg", has_text=marker)).to_be_visible()
    expect(doctor.locator("#notice-bell")).to_have_attribute("data-unread", str(before))
