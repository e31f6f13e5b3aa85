"""Two-factor sign-in: an authenticator app (TOTP), passkeys and one-time recovery codes.

A person signs in with a password, then proves the second factor; only then does the session
reach patient data (`teams.sessions.Verdict.UNVERIFIED` until `pass_second_factor`). Every
account must enrol: the first sign-in goes through enrolment (a QR code for the app, a first
code to confirm it, ten recovery codes shown once).

Devices are django-otp's: `TOTPDevice` (one confirmed per person, named "authenticator") and
`StaticDevice` (named "recovery", its tokens the recovery codes). A TOTP code works once: the
device row is locked while it is checked, and django-otp refuses a time step at or before the
last one used. Wrong codes slow the device down (django-otp's exponential back-off, answered
429 with Retry-After) and are audited.

Passkeys (`teams.passkeys`, WebAuthn) are the other way to enrol and to pass: a person with a
passkey counts as enrolled, passes with it through `pass_second_factor` as with a code, and
gets recovery codes the same way; an administrator's `reset` removes them too.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from urllib.parse import quote

import segno
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError
from teams import passkeys, sessions, throttle
from teams.models import User

AUTHENTICATOR = "authenticator"
DEMO = "demo"  # the authenticator of a demo account (seed_demo), whose code the demo shows
RECOVERY = "recovery"
RECOVERY_CODE_COUNT = 10
ISSUER = "Kizuna"
SECOND_FACTOR_OBJECT = "second_factor"  # the audit rows' object type


class SecondFactorRefused(DomainError):
    """A wrong or reused code (400), or too many of them (`retry_after` seconds: 429)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, fields={"code": [message]})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    uri: str  # otpauth:// for the app
    secret: str  # the same key in base32, for typing it in
    qr_svg: str  # the URI as an inline SVG QR code


def is_enrolled(user: User) -> bool:
    """Whether the person has a way to pass the second factor: an authenticator app or a
    passkey (recovery codes alone do not count: they are for when those are lost)."""
    return has_authenticator(user) or passkeys.has_passkey(user)


def has_authenticator(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def key_of(device: TOTPDevice) -> str:
    """The device's key in base32, as authenticator apps take it typed in."""
    return _base32(device)


def _base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def _uri(device: TOTPDevice, user: User) -> str:
    label = quote(f"{ISSUER}:{user.username}")
    return (
        f"otpauth://totp/{label}?secret={_base32(device)}&issuer={quote(ISSUER)}"
        f"&digits={device.digits}&period={device.step}"
    )


def enrolment(user: User) -> Enrolment:
    """The authenticator being set up: the person's unconfirmed device, made if need be.
    Its key is kept until confirmed, so reloading the page shows the same QR code."""
    device = (
        TOTPDevice.objects.filter(user=user, confirmed=False, name=AUTHENTICATOR)
        .order_by("-pk")
        .first()
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)
    uri = _uri(device, user)
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, dark="#1f2933", light="#ffffff", omitsize=True)
    return Enrolment(device=device, uri=uri, secret=_base32(device), qr_svg=svg)


def _retry_after(device: Device) -> int | None:
    allowed, info = device.verify_is_allowed()
    if allowed or not info or "locked_until" not in info:
        return None
    left: float = (info["locked_until"] - timezone.now()).total_seconds()
    return max(1, math.ceil(left))


def _too_many(device: Device) -> SecondFactorRefused | None:
    wait = _retry_after(device)
    if wait is None:
        return None
    return SecondFactorRefused(
        _("確認コードの誤りが続いたため、%(seconds)s秒後にもう一度お試しください。")
        % {"seconds": wait},
        retry_after=wait,
    )


def _wrong_code(user: User, detail: str) -> SecondFactorRefused:
    audit_record(
        user, AuditAction.SECOND_FACTOR_FAILED, object_type=SECOND_FACTOR_OBJECT, detail=detail
    )
    return SecondFactorRefused(_("確認コードが正しくないか、すでに使われています。"))


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def new_recovery_codes(user: User) -> list[str]:
    """Ten new one-time recovery codes; the person's earlier ones stop working."""
    with transaction.atomic():
        device, _created = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
        audit_record(
            user,
            AuditAction.SECOND_FACTOR,
            object_type=SECOND_FACTOR_OBJECT,
            detail="recovery codes",
        )
    return codes


def confirm_enrolment(user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """The first code from the app confirms the authenticator being set up; it replaces any
    earlier one. Returns the device and the person's new recovery codes."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False, name=AUTHENTICATOR)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise SecondFactorRefused(_("設定を最初からやり直してください。"))
        if (refusal := _too_many(device)) is not None:
            raise refusal
        confirmed = device.verify_token(_normalise(code))
        if confirmed:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(
                user,
                AuditAction.SECOND_FACTOR,
                object_type=SECOND_FACTOR_OBJECT,
                detail="authenticator",
            )
    # Outside the transaction: a wrong code's failure count and audit row are kept.
    if not confirmed:
        raise _wrong_code(user, "enrolment")
    return device, new_recovery_codes(user)


def verify(user: User, code: str, *, address: str | None = None) -> Device:
    """The device that `code` belongs to (the authenticator's current code, or an unused
    recovery code, which is then spent). Raises SecondFactorRefused otherwise.

    Behind the sign-in guard as well as the device's own back-off: wrong codes count like
    wrong passwords for the account and the address (`teams.throttle`, `Throttled` while
    locked), so guessing codes from many sessions locks the account too."""
    token = _normalise(code)
    if not token:
        raise SecondFactorRefused(_("確認コードを入力してください。"))
    throttle.guard("second_factor", account=user.username, address=address, actor=user)
    device = _matching_device(user, token)
    if device is None:
        throttle.failed("second_factor", account=user.username, address=address, actor=user)
        raise _wrong_code(user, "recovery code" if not token.isdigit() else "authenticator")
    throttle.succeeded("second_factor", account=user.username, address=address)
    return device


def _matching_device(user: User, token: str) -> Device | None:
    with transaction.atomic():
        devices: list[Device] = list(
            TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        )
        devices += list(StaticDevice.objects.select_for_update().filter(user=user, confirmed=True))
        if not devices:
            raise SecondFactorRefused(_("二段階認証がまだ設定されていません。"))
        # Digits go to the authenticator, letters to the recovery codes: a wrong guess then
        # slows down only the device it was meant for.
        kind = TOTPDevice if token.isdigit() else StaticDevice
        candidates = [d for d in devices if isinstance(d, kind)]
        for device in candidates:
            if (refusal := _too_many(device)) is not None:
                raise refusal
        for device in candidates:
            if device.verify_token(token):
                return device
    return None


def pass_second_factor(session: SessionBase, user: User, device: Device) -> None:
    """Mark the session as having passed the second factor (it may now reach patient data),
    with a code's device or a passkey."""
    sessions.mark_second_factor(session, device.persistent_id)
    detail = "second factor" if not isinstance(device, WebAuthnCredential) else "passkey"
    audit_record(user, AuditAction.SIGN_IN, object_type=SECOND_FACTOR_OBJECT, detail=detail)


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__name=RECOVERY).count())


def reset(actor: User, user: User) -> None:
    """An administrator's reset for a person who lost their authenticator or tablet: their
    devices go (authenticator apps, passkeys, recovery codes), and their next sign-in enrols
    anew. (Ending their sessions is the caller's step.)"""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        passkeys.remove_all(user)
        audit_record(
            actor,
            AuditAction.SECOND_FACTOR,
            object_type=SECOND_FACTOR_OBJECT,
            detail=f"reset {user.pk}",
        )


def demo_codes_shown() -> bool:
    """The demo's shortcut: the sign-in page shows a demo account's current code. Refused
    by a system check unless DEBUG is on (config: KIZUNA_DEMO_SHOW_CODES)."""
    return bool(settings.DEBUG and getattr(settings, "KIZUNA_DEMO_SHOW_CODES", False))


def demo_code(user: User) -> str:
    """A demo account's current code, when the demo's shortcut is on; "" otherwise."""
    if not demo_codes_shown():
        return ""
    device = TOTPDevice.objects.filter(user=user, name=DEMO, confirmed=True).first()
    return current_code(device) if device is not None else ""


def current_code(device: TOTPDevice) -> str:
    """The code the device's app would show now (for the demo and for tests that sign in)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
