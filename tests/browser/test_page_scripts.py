"""The page scripts as native ES modules, in a real Chromium against a real Daphne server.

The contact-book script is messaging/thread.js, which imports messaging/thread/*.js; a module
that fails to load or link stops the whole thread, with nothing on the page to show it. So:
the page loads every module with no error, a page read offline from the service worker's
cache still runs them (and its outbox), and an outbox written by the earlier, single-file
script (same localStorage keys) is still sent.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from config.web import SHELL_STATIC
from messaging.models import Message
from tests.browser.conftest import ROOT
from tests.browser.test_web_app import _open_patient_page_under_the_service_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 8_000  # ms
MODULES = sorted(
    p.relative_to(ROOT / "messaging" / "static").as_posix()
    for p in (ROOT / "messaging" / "static" / "messaging" / "thread").glob("*.js")
)


def _watch(page: Any) -> dict[str, list[str]]:
    """Collect what went wrong while the page ran: uncaught errors, console errors, failed
    requests and static files answered with an error status."""
    seen: dict[str, list[str]] = {"errors": [], "console": [], "failed": [], "loaded": []}
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on(
        "console",
        lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None,
    )
    page.on("requestfailed", lambda req: seen["failed"].append(f"{req.url} {req.failure}"))

    def response(resp: Any) -> None:
        if "/static/" in resp.url:
            seen["loaded" if resp.ok else "failed"].append(resp.url)

    page.on("response", response)
    return seen


def _patient_url(base: str, data: Any) -> str:
    return f"{base}/patients/{data.patient.pk}/"


def test_the_patient_page_loads_every_module_with_no_error(
    page, login, live_server_url, browser_data
):
    assert len(MODULES) >= 4, MODULES
    login(page, browser_data.nurse)
    # The home page's bell asks its unread count as it connects: leaving the page before the
    # answer aborts that request, which is the earlier page's, not this one's.
    page.wait_for_load_state("networkidle")
    seen = _watch(page)
    page.goto(_patient_url(live_server_url, browser_data))
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)
    assert page.evaluate("() => typeof window.kizunaThread.stats") == "object"
    assert page.evaluate("() => typeof window.kizunaClearPageCaches") == "function"
    # (kizuna.js, already loaded by the home page, may come from the memory cache unseen.)
    loaded = {url.split("/static/", 1)[1] for url in seen["loaded"]}
    assert {"messaging/thread.js", *MODULES} <= loaded
    assert seen["errors"] == []
    assert seen["console"] == []
    assert seen["failed"] == []


def test_a_page_read_offline_from_the_cache_still_runs_its_modules_and_outbox(
    context, page, login, live_server_url, browser_data, shoot
):
    login(page, browser_data.nurse)
    url = _patient_url(live_server_url, browser_data)
    _open_patient_page_under_the_service_worker(page, url)
    context.set_offline(True)
    seen = _watch(page)
    page.reload()
    expect(page.locator("#patient-name")).to_have_text(browser_data.patient.name)
    # The modules came from the service worker's cache: the thread script runs.
    page.wait_for_function("() => window.kizunaThread !== undefined")
    expect(page.locator("#thread-status")).to_contain_text("オフラインです")
    body = f"オフライン再読込後の記録 [{uuid.uuid4().hex[:6]}]"
    page.fill("#thread-body", body)
    page.get_by_role("button", name="送信", exact=True).click()
    pending = page.locator("#thread-outbox li.pending", has_text=body)
    expect(pending.locator(".msg-state")).to_have_text(
        "送信待ち: オフラインです"
    )  # with the reason
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 1
    assert seen["errors"] == []
    # (Under DEBUG, htmx_script also loads django_htmx/django-htmx.js, which is not in the
    # app shell: offline it fails, harmlessly. The page's own scripts must not.)
    ours = ("/static/js/", "/static/messaging/")
    assert [f for f in seen["failed"] if any(part in f for part in ours)] == []
    shoot(page, "offline-reload-outbox")

    context.set_offline(False)
    expect(page.locator("#thread-messages li.msg", has_text=body)).to_have_count(1, timeout=LIVE)
    expect(pending).to_have_count(0)
    assert Message.objects.filter(body=body).count() == 1


def test_an_outbox_left_by_an_earlier_visit_is_shown_and_sent(
    page, login, live_server_url, browser_data
):
    """The key and the item shape are those of the single-file script before the modules."""
    login(page, browser_data.nurse)
    url = _patient_url(live_server_url, browser_data)
    page.goto(url)
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)
    data = json.loads(page.locator("#thread-data").text_content() or "{}")
    body = f"前回の訪問で未送信 [{uuid.uuid4().hex[:6]}]"
    item = {
        "client_id": str(uuid.uuid4()),
        "body": body,
        "kind": "note",
        "priority": "",
        "created": int(time.time() * 1000),
    }
    # Left by a page that was closed before it could send (no page of this thread is open).
    page.goto(f"{live_server_url}/")
    page.evaluate(
        "([key, value]) => localStorage.setItem(key, value)",
        [f"kizuna.outbox.{data['me']}.{data['thread']}", json.dumps([item])],
    )
    page.goto(url)
    expect(page.locator("#thread-messages li.msg", has_text=body)).to_have_count(1, timeout=LIVE)
    expect(page.locator("#thread-outbox li")).to_have_count(0)
    assert page.evaluate("() => window.kizunaThread.outbox().length") == 0
    message = Message.objects.get(body=body)
    assert str(message.client_id) == item["client_id"]


def test_the_app_shell_lists_every_thread_module():
    """The service worker caches the shell (`config.web.SHELL_STATIC`) for offline use and
    makes a new worker when one of its files changes: a new module must be listed there."""
    listed = sorted(p for p in SHELL_STATIC if p.startswith("messaging/thread/"))
    assert listed == MODULES
