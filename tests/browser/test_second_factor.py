"""Two-factor sign-in in a real Chromium: a new person enrols an authenticator from the QR
code page, writes down the recovery codes, and signs in again with a recovery code."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from teams.models import User
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def _code_for(secret: str) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time()
    return f"{totp.token():06d}"


def _password_step(page: Any, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(url=re.compile(r"/account/two-factor/")):
        page.click("form.form button[type=submit]")


def test_a_newcomer_enrols_an_authenticator_and_later_signs_in_with_a_recovery_code(
    page, live_server_url, browser_data, shoot
):
    newcomer = browser_data.newcomer
    _password_step(page, live_server_url, newcomer)
    assert "/account/two-factor/setup/" in page.url
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    shoot(page, "two-factor-setup")

    page.fill("#id_code", "000000")
    page.click("form.form button[type=submit]")
    expect(page.locator(".field-error")).to_contain_text("確認コード")
    page.wait_for_timeout(1100)  # a wrong code makes the next try wait a second

    page.fill("#id_code", _code_for(secret))
    page.click("form.form button[type=submit]")
    codes = page.locator("#recovery-codes code")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text()
    shoot(page, "two-factor-codes")
    with page.expect_navigation():
        page.click("text=控えました。続ける")
    assert page.url == f"{live_server_url}/"
    expect(page.locator("#main")).to_be_visible()

    # Signed out, then in again: the password alone stops at the second step.
    page.context.clear_cookies()
    _password_step(page, live_server_url, newcomer)
    page.goto(f"{live_server_url}/")
    assert "/account/two-factor/" in page.url
    page.fill("#id_code", recovery)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{live_server_url}/"
    shoot(page, "two-factor-signed-in")
