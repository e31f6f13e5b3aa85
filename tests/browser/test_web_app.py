"""The tablet web app in a real Chromium against a real Daphne server.

Each test leaves a tablet (1024×768) and a phone (390×844) screenshot in
tests/browser/artifacts/; the yellow-card test also refreshes docs/screenshot-patient.png.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from audit.models import AuditAction, AuditEvent
from patients.models import CareWish
from tests.browser.conftest import DOCS, TABLET

# `django_db` makes pytest-django set up the test database for this session (it only does
# for sessions with a database test); each test's own reads run in a rolled-back transaction
# and see the package's committed data.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

PAGE_CACHE = "kizuna-pages"


def _patient_url(base: str, data: Any) -> str:
    return f"{base}/patients/{data.patient.pk}/"


def _cached_page_urls(page: Any) -> list[str]:
    result: list[str] = page.evaluate(
        """async () => {
            if (!(await caches.has('kizuna-pages'))) return [];
            const cache = await caches.open('kizuna-pages');
            return (await cache.keys()).map((r) => r.url);
        }"""
    )
    return result


def _open_patient_page_under_the_service_worker(page: Any, url: str) -> None:
    """Open the page, wait until the service worker controls it, and until the page is cached."""
    page.goto(url)
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    # The first load happened before the worker was active: load again through it. (Waiting
    # for clients.claim() to take this page instead races: Chromium may skip a page that
    # was still loading when the worker activated, and it then stays uncontrolled.)
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    deadline = time.monotonic() + 10
    while url not in _cached_page_urls(page):
        assert time.monotonic() < deadline, "the patient page was never cached"
        time.sleep(0.2)


def test_visiting_nurse_logs_in_and_sees_only_her_teams_patients(page, login, browser_data, shoot):
    login(page, browser_data.nurse)
    patients = page.locator("#patient-list")
    expect(patients).to_contain_text(browser_data.patient.name)
    expect(patients).to_contain_text(browser_data.patient.name_kana)
    expect(patients).to_contain_text("訪問看護師")
    expect(patients).not_to_contain_text(browser_data.other_patient.name)
    expect(page.locator("nav.app-nav")).not_to_contain_text("監査ログ")
    shoot(page, "home")


def test_nurse_edits_the_yellow_card_and_the_new_wish_shows(
    page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.nurse)
    page.click(f"text={browser_data.patient.name}")
    expect(page.locator("#patient-name")).to_have_text(browser_data.patient.name)
    # The wishes are a pane of their own beside the contact book (the 希望 tab).
    page.locator('#patient-tabs a[data-pane="pane-wishes"]').click()
    card = page.locator("#wish-yellow")
    card.get_by_role("link", name=re.compile("更新")).click()
    page.fill("#id_wish_preference", "中央総合病院に入院したい")
    page.select_option("#id_wish_hospital", label=browser_data.hospital.name)
    page.fill("#id_wish_note", "夜間は長男に連絡")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("[data-testid=wish-yellow-preference]")).to_have_text(
        "中央総合病院に入院したい"
    )
    expect(card).to_contain_text(browser_data.hospital.name)
    # htmx swapped the section in place: the browser never left the patient page (the hash
    # is the chosen tab's).
    assert page.url.split("#")[0] == _patient_url(live_server_url, browser_data)
    wish = CareWish.objects.get(patient=browser_data.patient, kind="yellow")
    assert wish.recorded_by_id == browser_data.nurse.pk
    assert wish.hospital_id == browser_data.hospital.pk
    assert AuditEvent.objects.filter(
        actor_id=browser_data.nurse.pk,
        action=AuditAction.CREATE,
        patient_id=browser_data.patient.pk,
        object_type="patients.carewish",
    ).exists()
    shoot(page, "patient-yellow-card")
    DOCS.mkdir(exist_ok=True)
    page.set_viewport_size(TABLET)
    page.goto(_patient_url(live_server_url, browser_data))
    page.screenshot(path=str(DOCS / "screenshot-patient.png"), full_page=False)


def test_a_refused_form_shows_the_error_next_to_the_field(page, login, browser_data, shoot):
    # The physician: the nurse may not edit the medication list (patients.access.POLICY).
    login(page, browser_data.primary)
    page.click(f"text={browser_data.patient.name}")
    section = page.locator("#sec-medications")
    section.get_by_role("link", name=re.compile("追加")).click()
    page.fill("#id_medications_name", "フロセミド錠")
    page.fill("#id_medications_start_date", "2026-05-10")
    page.fill("#id_medications_end_date", "2026-05-01")
    section.get_by_role("button", name="保存").click()
    expect(page.locator("#id_medications_end_date_error")).to_be_visible()
    expect(page.locator("#id_medications_end_date")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_medications_name")).to_have_value("フロセミド錠")
    # Swapped in place: the rest of the page (header, other sections) is still there.
    expect(page.locator("header.app-header")).to_be_visible()
    # (The wishes are in their own pane, behind the 希望 tab: still in the page.)
    expect(page.locator("#sec-wishes")).to_have_count(1)
    expect(page.locator("#pane-record")).to_be_visible()
    shoot(page, "form-error")


def test_outsider_opening_the_patient_url_gets_the_not_found_page(
    page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.outsider)
    response = page.goto(_patient_url(live_server_url, browser_data))
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("ページが見つかりません")
    expect(page.locator("body")).not_to_contain_text(browser_data.patient.name)
    shoot(page, "not-found")


def test_switching_to_english_shows_english_labels(
    page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.nurse)
    page.get_by_role("button", name="English").click()
    nav = page.locator("nav.app-nav")
    expect(nav).to_contain_text("Home")
    expect(nav).to_contain_text("Directory")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto(_patient_url(live_server_url, browser_data))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#sec-team-title")).to_have_text("Care team")
    expect(page.locator("#sec-team")).to_contain_text("Visiting nurse")
    shoot(page, "english")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("#sec-team-title")).to_have_text("ケアチーム")


def test_offline_banner_shows_and_the_cached_patient_page_still_reads(
    context, page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.nurse)
    url = _patient_url(live_server_url, browser_data)
    _open_patient_page_under_the_service_worker(page, url)
    banner = page.locator("#offline-banner")
    expect(banner).to_be_hidden()
    context.set_offline(True)
    expect(banner).to_be_visible()
    expect(banner).to_have_text("オフラインです。保存済みの内容を表示しています。")
    page.reload()
    expect(page.locator("#patient-name")).to_have_text(browser_data.patient.name)
    expect(page.locator("#offline-banner")).to_be_visible()
    shoot(page, "offline")
    context.set_offline(False)
    expect(page.locator("#offline-banner")).to_be_hidden()


def test_a_cached_page_older_than_twelve_hours_is_not_served(
    context, page, login, live_server_url, browser_data
):
    login(page, browser_data.nurse)
    url = _patient_url(live_server_url, browser_data)
    _open_patient_page_under_the_service_worker(page, url)
    # Age the stored copy by 13 hours, as if the tablet had been left in a bag overnight.
    page.evaluate(
        """async (url) => {
            const cache = await caches.open('kizuna-pages');
            const old = await cache.match(url);
            const headers = new Headers(old.headers);
            headers.set('X-Kizuna-Cached-At', String(Date.now() - 13 * 3600 * 1000));
            await cache.put(url, new Response(await old.blob(), {status: 200, headers}));
        }""",
        url,
    )
    context.set_offline(True)
    page.reload()
    expect(page.locator("#offline-title")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(browser_data.patient.name)
    context.set_offline(False)
    assert url not in _cached_page_urls(page)


def test_logout_clears_the_cached_patient_pages(
    context, page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.nurse)
    url = _patient_url(live_server_url, browser_data)
    _open_patient_page_under_the_service_worker(page, url)
    with page.expect_navigation(url=re.compile(r"/login/$")):
        page.get_by_role("button", name="ログアウト").click()
    assert _cached_page_urls(page) == []
    shoot(page, "logged-out")
    context.set_offline(True)
    page.goto(url)
    expect(page.locator("body")).not_to_contain_text(browser_data.patient.name)
    context.set_offline(False)


def test_directory_search_by_kind(page, login, live_server_url, browser_data, shoot):
    login(page, browser_data.nurse)
    page.get_by_role("link", name="連携リスト").click()
    page.select_option("#dir_kind", "hospital")
    page.get_by_role("button", name="検索").click()
    results = page.locator("#directory-results")
    expect(results).to_contain_text(browser_data.hospital.name)
    expect(results).not_to_contain_text(browser_data.organizations[0].name)
    assert "kind=hospital" in page.url
    shoot(page, "directory")
