"""Passkeys in a real Chromium, with its virtual authenticator (over CDP) standing in for a
tablet's Face ID: a new person chooses a passkey at the first sign-in, keeps the recovery
codes, finds the passkey on the account page, and signs in again with it.

WebAuthn needs a secure context, so these pages are opened at http://localhost:<port> (the
server also answers at 127.0.0.1, which is not one).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import expect

from teams.models import Profession, User
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.passkey_device import SoftPasskey
from tests.signin import authenticator, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture
def base(live_server_url: str) -> str:
    return live_server_url.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def people(browser_data: Any, django_db_blocker: Any) -> dict[str, Any]:
    """Committed before any test's transaction (the server must see them), and removed with
    the package's other people (their names end with the run's token): a newcomer with no
    second factor yet, and a nurse with an authenticator app and a passkey on another device."""
    with django_db_blocker.unblock():
        station = browser_data.organizations[0]

        def person(role: str, name: str) -> User:
            user = UserFactory(
                username=f"{role}-{browser_data.token}",
                display_name=name,
                profession=Profession.NURSE,
            )
            MembershipFactory(user=user, organization=station)
            return user

        newcomer = person("passkey-newcomer", "佐藤 花")
        elsewhere = person("passkey-elsewhere", "田中 舞")
        device = authenticator(elsewhere)
        WebAuthnCredential.objects.create(
            user=elsewhere,
            name="別の端末",
            credential_id=SoftPasskey().credential_id,
            public_key=b"\x00",
        )
    return {"newcomer": newcomer, "elsewhere": elsewhere, "device": device}


def virtual_authenticator(context: Any, page: Any) -> tuple[Any, str]:
    """Chromium's virtual authenticator: a platform one that verifies the user (Face ID)."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, str(added["authenticatorId"])


def password_step(page: Any, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation(url=re.compile(r"/account/two-factor/")):
        page.click("form.form button[type=submit]")


def test_a_newcomer_registers_a_passkey_and_signs_in_with_it(context, page, base, people, shoot):
    newcomer = people["newcomer"]
    cdp, authenticator_id = virtual_authenticator(context, page)

    password_step(page, base, newcomer)
    assert "/account/two-factor/setup/" in page.url
    expect(page.locator("#passkey-register")).to_be_enabled()
    shoot(page, "passkey-setup")
    page.fill("#id_name", "iPad 訪問用")
    with page.expect_navigation():
        page.click("#passkey-register")
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    with page.expect_navigation():
        page.click("text=控えました。続ける")
    assert page.url == f"{base}/"

    page.goto(f"{base}/account/devices/")
    expect(page.locator("#passkeys")).to_contain_text("iPad 訪問用")
    shoot(page, "passkey-devices")

    # Signed out, then in again: the password, then the passkey.
    context.clear_cookies()
    password_step(page, base, newcomer)
    page.goto(f"{base}/directory/")
    assert "/account/two-factor/" in page.url
    expect(page.locator("#passkey-sign-in")).to_be_visible()
    shoot(page, "passkey-sign-in")
    with page.expect_navigation(url=re.compile(r"/directory/")):
        page.click("#passkey-sign-in")
    expect(page.locator("#main")).to_be_visible()
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert len(held["credentials"]) == 1
    assert held["credentials"][0]["signCount"] >= 1


def test_without_the_passkey_on_this_tablet_the_page_says_so_and_the_code_still_works(
    context, page, base, people, django_db_blocker
):
    """Her passkey is on another device: the browser finds none here, the page says so in
    Japanese, and the authenticator app's code still passes."""
    page.set_default_timeout(30_000)
    virtual_authenticator(context, page)  # holds no passkey of hers
    password_step(page, base, people["elsewhere"])
    page.click("#passkey-sign-in")
    status = page.locator("[data-passkey-status]")
    expect(status).to_be_visible()
    expect(status).to_contain_text("パスキー")
    with django_db_blocker.unblock():
        code = totp_code(people["device"])
    page.fill("#id_code", code)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{base}/"
