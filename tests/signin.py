"""Signing in as a person does, in tests: the password form, then the second factor.

`sign_in(client, user)` posts the login form and then the authenticator's code (enrolling
the person first if they have no authenticator). `totp_code(device)` is the code an app
would show now, or the next one when the current step is already used: django-otp takes a
time step once, and a test may sign the same person in several times within 30 seconds
(the tests' authenticators accept steps further ahead than a real one, which takes one).
"""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from teams.models import User
from tests.factories import PASSWORD


def authenticator(user: User) -> TOTPDevice:
    """The person's confirmed authenticator, enrolled now if they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name="authenticator", confirmed=True, tolerance=20
        )
    return device


def totp_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).t()
    step = max(now, device.last_t + 1)  # a used step is refused: take the next one
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"


def sign_in(client: Client, user: User, password: str = PASSWORD, **extra: Any) -> Any:
    """Both steps through the pages; the answer to the second (a redirect when it passed)."""
    response = client.post("/login/", {"username": user.username, "password": password}, **extra)
    assert response.status_code == 302, response.status_code
    code = totp_code(authenticator(user))
    return client.post("/account/two-factor/", {"code": code}, **extra)


def token_request(user: User, password: str = PASSWORD) -> dict[str, str]:
    """The body of `POST /api/v1/auth/token/` for `user`: password and a fresh code."""
    code = totp_code(authenticator(user))
    return {"username": user.username, "password": password, "otp_code": code}
