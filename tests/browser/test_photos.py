"""Photos in the contact book, in real Chromium (a fake camera) against Daphne, PostgreSQL,
Redis and a real Celery worker on the `media` queue (issue 12, "Done when")."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from media import files
from media.models import Attachment
from messaging.models import Message
from tests.browser.conftest import TABLET
from tests.media import photos
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 15_000  # ms: a live change, derivatives included


@pytest.fixture(scope="module", autouse=True)
def media_worker(browser_data: Any, django_db_blocker: Any) -> Iterator[None]:
    """The worker that makes the derivatives; the photos are removed at the end (their rows
    hold their messages and patients)."""
    with django_db_blocker.unblock(), celery_worker(("media",), name="browser-media"):
        yield
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        patients = [browser_data.patient.pk, browser_data.other_patient.pk]
        for row in Attachment.objects.filter(patient__in=patients):
            files.delete_quietly(row.file, row.thumb_file, row.display_file)
        Attachment.objects.filter(patient__in=patients).delete()


def _context(browser: Any) -> Any:
    ctx = browser.new_context(
        viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo", permissions=["camera"]
    )
    ctx.set_default_timeout(20_000)
    return ctx


@pytest.fixture
def camera_context(browser: Any) -> Iterator[Any]:
    ctx = _context(browser)
    yield ctx
    with contextlib.suppress(Exception):
        ctx.close()


@pytest.fixture
def doctor_context(browser: Any) -> Iterator[Any]:
    ctx = _context(browser)
    yield ctx
    with contextlib.suppress(Exception):
        ctx.close()


def _open(page: Any, login: Any, user: Any, url: str) -> None:
    login(page, user)
    page.goto(url)
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)


def _capture(page: Any, site: str, caption: str) -> None:
    page.click("#photo-take")
    dialog = page.locator("#camera-dialog")
    expect(dialog).to_be_visible()
    shoot = dialog.locator("[data-camera=shoot]")
    expect(shoot).to_be_enabled(timeout=LIVE)
    shoot.click()
    dialog.locator("[data-camera=use]").click()
    expect(dialog).to_be_hidden()
    photo = page.locator("#photo-tray li.tray-photo").last
    photo.locator("select.tray-site").select_option(site)
    photo.locator("input.tray-caption").fill(caption)


def test_a_nurse_captures_two_photos_and_the_physician_sees_them_live(
    camera_context, doctor_context, login, browser_data, live_server_url, shoot, django_db_blocker
):
    url = f"{live_server_url}/patients/{browser_data.patient.pk}/"
    nurse = camera_context.new_page()
    _open(nurse, login, browser_data.nurse, url)
    doctor = doctor_context.new_page()
    _open(doctor, login, browser_data.primary, url)

    _capture(nurse, "sacrum", "1回目")
    _capture(nurse, "sacrum", "2回目")
    expect(nurse.locator("#photo-tray li.tray-photo")).to_have_count(2)
    shoot(nurse, "photos-tray")
    body = f"仙骨部の発赤 {uuid.uuid4().hex[:6]}"
    nurse.fill("#thread-body", body)
    nurse.get_by_role("button", name="送信", exact=True).click()

    seen = doctor.locator("#thread-messages li.msg", has_text=body)
    expect(seen).to_have_count(1, timeout=LIVE)
    expect(seen.locator("figure.msg-photo img.msg-photo-thumb")).to_have_count(2, timeout=LIVE)
    expect(seen.locator("figcaption").first).to_contain_text("1回目")
    shoot(doctor, "photos-live")

    with django_db_blocker.unblock():
        message = Message.objects.get(body=body)
        ids = [str(a.pk) for a in message.attachments.order_by("position")]
    assert len(ids) == 2

    doctor.goto(f"{live_server_url}/patients/{browser_data.patient.pk}/photos/sacrum/")
    timeline = doctor.locator("#wound-timeline li[data-photo]")
    expect(timeline).to_have_count(2)
    for box in doctor.locator("#wound-timeline input[name=pick]").all():
        box.check()
    doctor.click("#compare-button")
    expect(doctor.locator("#compare figure")).to_have_count(2)
    shoot(doctor, "photos-timeline")

    outsider_context = _context(nurse.context.browser)
    try:
        outsider = outsider_context.new_page()
        login(outsider, browser_data.outsider)
        answer = outsider.goto(f"{live_server_url}/api/v1/attachments/{ids[0]}/full/")
        assert answer.status == 404
        answer = outsider.goto(f"{live_server_url}/api/v1/attachments/{ids[0]}/thumb/")
        assert answer.status == 404
    finally:
        outsider_context.close()
    answer = doctor.goto(f"{live_server_url}/api/v1/attachments/{ids[0]}/full/")
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/jpeg"


def test_photos_taken_offline_arrive_once_when_back_online(
    camera_context, login, browser_data, live_server_url, shoot, django_db_blocker
):
    url = f"{live_server_url}/patients/{browser_data.patient.pk}/"
    page = camera_context.new_page()
    _open(page, login, browser_data.nurse, url)
    camera_context.set_offline(True)
    _capture(page, "left_heel", "オフラインで撮影")
    page.set_input_files(
        "#photo-picker",
        files=[{"name": "heel.jpg", "mimeType": "image/jpeg", "buffer": photos.jpeg()}],
    )
    expect(page.locator("#photo-tray li.tray-photo")).to_have_count(2)
    body = f"電波のない家で {uuid.uuid4().hex[:6]}"
    page.fill("#thread-body", body)
    page.get_by_role("button", name="送信", exact=True).click()
    pending = page.locator("#thread-outbox li.pending", has_text=body)
    expect(pending).to_have_count(1)
    expect(pending.locator("figure.msg-photo")).to_have_count(2)
    shoot(page, "photos-offline-pending")
    with django_db_blocker.unblock():
        assert not Message.objects.filter(body=body).exists()

    camera_context.set_offline(False)
    posted = page.locator("#thread-messages li.msg", has_text=body)
    expect(posted).to_have_count(1, timeout=LIVE)
    expect(posted.locator("figure.msg-photo img.msg-photo-thumb")).to_have_count(2, timeout=LIVE)
    expect(pending).to_have_count(0)
    with django_db_blocker.unblock():
        message = Message.objects.get(body=body)
        assert message.attachments.count() == 2
        assert Attachment.objects.filter(uploaded_by=browser_data.nurse, message=None).count() == 0
    stored = page.evaluate("() => window.kizunaThread.outbox().length")
    assert stored == 0


def test_logout_removes_the_photos_waiting_on_the_device(
    camera_context, login, browser_data, live_server_url
):
    page = camera_context.new_page()
    _open(page, login, browser_data.nurse, f"{live_server_url}/patients/{browser_data.patient.pk}/")
    page.set_input_files(
        "#photo-picker",
        files=[{"name": "wound.jpg", "mimeType": "image/jpeg", "buffer": photos.jpeg()}],
    )
    expect(page.locator("#photo-tray li.tray-photo")).to_have_count(1)
    names = "async () => (await indexedDB.databases()).map((d) => d.name)"
    page.wait_for_function(
        "async () => (await indexedDB.databases()).some((d) => d.name === 'kizuna-photos')"
    )
    with page.expect_navigation(url=re.compile(r"/login/$")):
        page.get_by_role("button", name="ログアウト").click()
    assert "kizuna-photos" not in page.evaluate(names)
