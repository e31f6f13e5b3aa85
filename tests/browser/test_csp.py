"""The main pages under the enforced Content-Security-Policy, in a real Chromium.

Every page load listens for `securitypolicyviolation` events (an init script, so it is in
place before the page's own scripts) and for the console's "Refused to …" lines; a page that
needed an inline script, an inline style or `eval` would show one. The live thread must still
work under the policy: a post from one browser arrives on the other's page over the socket.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from teams.models import Membership, User
from tests.browser.conftest import TABLET
from tests.factories import MembershipFactory, UserFactory
from tests.signin import authenticator

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 8_000  # ms: how long a live change may take to show

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


class Watch:
    """The violations one page reported: its events and its console's CSP lines."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def violations(self) -> list[str]:
        events = self.page.evaluate("window.__cspViolations || []")
        return [*events, *self.console]


@pytest.fixture(scope="module")
def auditor(browser_data: Any, django_db_blocker: Any) -> Iterator[User]:
    """An administrator of the nurse's station, who may read the audit log (committed before
    any test's transaction, so that the server sees it)."""
    with django_db_blocker.unblock():
        user = UserFactory(username=f"auditor-{browser_data.token}", display_name="監査 担当")
        MembershipFactory(user=user, organization=browser_data.organizations[0], is_admin=True)
        authenticator(user)
    yield user
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        Membership.objects.filter(user=user).delete()
        user.delete()


def _csp_of(response: Any) -> str:
    headers = response.all_headers()
    assert "server" not in headers, headers.get("server")  # Daphne runs --no-server-name
    policy = headers.get("content-security-policy", "")
    assert "script-src 'self' 'nonce-" in policy or "script-src 'self'" in policy, policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    return str(policy)


def test_the_main_pages_run_with_no_csp_violation(
    page, context, login, live_server_url, browser_data, auditor, browser
):
    watch = Watch(page)
    response = page.goto(f"{live_server_url}/login/")
    _csp_of(response)
    login(page, browser_data.nurse)
    paths = ("/", f"/patients/{browser_data.patient.pk}/", "/directory/", "/referrals/new/")
    for path in paths:
        response = page.goto(f"{live_server_url}{path}")
        assert response.status == 200, path
        _csp_of(response)
        page.wait_for_load_state("networkidle")
    expect(page.locator("#thread-card")).to_have_count(0)  # the directory has no thread
    assert watch.violations() == []

    # The audit page, as an organization administrator, in a profile of its own.
    admin_context = browser.new_context(viewport=TABLET, locale="ja-JP")
    try:
        admin_page = admin_context.new_page()
        admin_watch = Watch(admin_page)
        login(admin_page, auditor)
        response = admin_page.goto(f"{live_server_url}/audit/")
        assert response.status == 200
        _csp_of(response)
        admin_page.wait_for_load_state("networkidle")
        # Swagger UI, self-hosted and under the same policy.
        response = admin_page.goto(f"{live_server_url}/api/docs/")
        _csp_of(response)
        expect(admin_page.locator(".swagger-ui .info")).to_be_visible(timeout=LIVE)
        assert admin_watch.violations() == []
    finally:
        admin_context.close()


def test_the_live_thread_works_under_the_policy(
    page, login, live_server_url, browser_data, browser
):
    url = f"{live_server_url}/patients/{browser_data.patient.pk}/"
    watch = Watch(page)
    login(page, browser_data.nurse)
    page.goto(url)
    expect(page.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)

    doctor_context = browser.new_context(viewport=TABLET, locale="ja-JP")
    try:
        doctor = doctor_context.new_page()
        doctor_watch = Watch(doctor)
        login(doctor, browser_data.primary)
        doctor.goto(url)
        expect(doctor.locator("#thread-card")).to_have_attribute("data-live", "open", timeout=LIVE)
        body = f"CSPのもとで送信 [{uuid.uuid4().hex[:6]}]"
        page.locator("#thread-body").scroll_into_view_if_needed()
        page.fill("#thread-body", body)
        page.get_by_role("button", name="送信", exact=True).click()
        expect(doctor.locator("#thread-messages li.msg", has_text=body)).to_have_count(
            1, timeout=LIVE
        )
        assert doctor_watch.violations() == []
    finally:
        doctor_context.close()
    assert watch.violations() == []
