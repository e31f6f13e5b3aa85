"""Passkeys (WebAuthn) as the second factor: the easier choice on a tablet.

After the password, the person touches the tablet's sensor (Face ID, a fingerprint, the
passcode) instead of typing a code. A passkey is a django-otp device
(`django_otp_webauthn.WebAuthnCredential`), so a session passes the second factor with it
through the same `teams.second_factor.pass_second_factor` as with an authenticator app.

Only django-otp-webauthn's model and its helper around py_webauthn are used, not its views:
those sign a person in by themselves (passwordless), answer in their own error shape and know
nothing of the sign-in guard or the audit log. Here:

- **Ceremonies**: `registration_options` / `authentication_options` make a challenge, keep it
  in the session (`STATE_KEYS`, with the time it was made) and return the options for the
  browser. `register` / `authenticate` take the browser's answer; the challenge is taken out
  of the session first, so it works once and for `CHALLENGE_SECONDS` at most.
- **Relying party**: the RP ID is `KIZUNA_WEBAUTHN_RP_ID`, or the request's host name; the
  origins are `KIZUNA_WEBAUTHN_ORIGINS`, or the request's own origin. Browsers offer WebAuthn
  only in a secure context: https, or http://localhost.
- **Refusals**: a wrong or missing challenge, another person's credential, a removed passkey,
  a signature count that did not go up (a cloned or replayed answer), a bad signature: each is
  refused (`PasskeyRefused`, 400), audited (`second_factor_bad`) and counted by the sign-in
  guard like a wrong code (`teams.throttle`, kind "second_factor"; 429 while locked).
  The credential's row is locked while it is checked, so one answer cannot pass twice.
- **User verification** is required when signing in (the tablet asks for Face ID, a
  fingerprint or its passcode), preferred when registering.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.request import split_domain_port
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.exceptions import CredentialNotFound, CredentialUserMismatch
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import DomainError, NotFound
from config.untrusted import RefusedInput, load_json
from teams import throttle
from teams.models import User

REGISTER = "register"
AUTHENTICATE = "authenticate"
STATE_KEYS = {REGISTER: "kizuna_passkey_register", AUTHENTICATE: "kizuna_passkey_authenticate"}
# A challenge older than this is refused: the browser's own prompt gives up after the same.
CHALLENGE_SECONDS = 5 * 60
NAME_MAX = 64
# What a browser's answer may weigh: a credential id is at most 1023 bytes, attestation
# certificates a few kilobytes; base64 and JSON add a third.
ANSWER_MAX_CHARS = 32 * 1024
AUDIT_OBJECT = "second_factor"  # as teams.second_factor's rows
# What py_webauthn and the helper raise for an answer that does not verify.
_NOT_VERIFIED = (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    CredentialNotFound,
    CredentialUserMismatch,
    KeyError,
    TypeError,
    ValueError,
)


class PasskeyRefused(DomainError):
    """The browser's answer did not prove the passkey (400), or the person is locked out for
    `retry_after` seconds (429)."""

    def __init__(
        self, message: str, *, reason: str = "refused", retry_after: int | None = None
    ) -> None:
        super().__init__(message, fields={"credential": [message]})
        self.reason = reason  # for the audit row
        self.retry_after = retry_after


# --- the relying party ----------------------------------------------------------------------


def rp_id(request: HttpRequest) -> str:
    """The relying party's id: the configured one, or the host name the page was asked by
    (already checked against ALLOWED_HOSTS by `get_host`)."""
    configured = str(getattr(settings, "KIZUNA_WEBAUTHN_RP_ID", "") or "")
    if configured:
        return configured
    domain, _port = split_domain_port(request.get_host())
    return domain  # an IP address is no RP ID to browsers: set KIZUNA_WEBAUTHN_RP_ID then


def allowed_origins(request: HttpRequest) -> list[str]:
    configured = [str(o) for o in getattr(settings, "KIZUNA_WEBAUTHN_ORIGINS", []) or []]
    if configured:
        return configured
    return [f"{request.scheme}://{request.get_host()}"]


class KizunaWebAuthnHelper(WebAuthnHelper):  # type: ignore[misc]
    """django-otp-webauthn's helper with the relying party read from Kizuna's settings
    (`OTP_WEBAUTHN_HELPER_CLASS` names it)."""

    def get_relying_party_domain(self) -> str:
        return rp_id(self.request)

    def get_relying_party_name(self) -> str:
        return "Kizuna"

    def get_allowed_origins(self) -> list[str]:
        return allowed_origins(self.request)

    def get_credential_display_name(self, user: Any) -> str:
        return f"{user.display_name or user.username} ({user.username})"


def _helper(request: HttpRequest) -> KizunaWebAuthnHelper:
    return KizunaWebAuthnHelper(request)


# --- reads ------------------------------------------------------------------------------------


def passkeys_of(user: User) -> QuerySet[WebAuthnCredential]:
    mine: QuerySet[WebAuthnCredential] = WebAuthnCredential.objects.filter(
        user=user, confirmed=True
    ).order_by("created_at")
    return mine


def has_passkey(user: User) -> bool:
    return bool(passkeys_of(user).exists())


# --- the challenge in the session ---------------------------------------------------------------


def _keep_state(session: SessionBase, ceremony: str, state: dict[str, Any]) -> None:
    session[STATE_KEYS[ceremony]] = {**state, "at": time.time()}


def _take_state(session: SessionBase, ceremony: str) -> dict[str, Any] | None:
    """The ceremony's challenge, taken out of the session (and saved so at once): it works
    once, even when checking the answer fails half-way."""
    state = session.pop(STATE_KEYS[ceremony], None)
    session.save()
    if not isinstance(state, dict) or not isinstance(state.get("challenge"), str):
        return None
    at = state.get("at")
    if not isinstance(at, int | float) or time.time() - at > CHALLENGE_SECONDS:
        return None
    return state


def _answer(raw: str) -> dict[str, Any]:
    """The browser's answer (PublicKeyCredential as JSON), through the project's strict
    JSON reader."""
    if not raw or len(raw) > ANSWER_MAX_CHARS:
        raise PasskeyRefused(_("パスキーの応答がありません。もう一度お試しください。"))
    try:
        data = load_json(raw, max_depth=8)
    except RefusedInput:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("rawId"), str):
        raise PasskeyRefused(_("パスキーの応答を読み取れませんでした。もう一度お試しください。"))
    return data


def _no_challenge() -> PasskeyRefused:
    return PasskeyRefused(
        _("確認の有効期限が切れたか、すでに使われています。もう一度お試しください。")
    )


# --- registration ----------------------------------------------------------------------------


def registration_options(request: HttpRequest, user: User) -> dict[str, Any]:
    """The options for `navigator.credentials.create()`; the challenge waits in the session.
    The person's passkeys are excluded, so one tablet does not register twice."""
    options, state = _helper(request).register_begin(user=user)
    _keep_state(request.session, REGISTER, state)
    return dict(options)


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PasskeyRefused(_("パスキーの名前を入力してください（例: iPad 訪問用）。"))
    if len(cleaned) > NAME_MAX:
        raise PasskeyRefused(
            _("パスキーの名前は%(max)s文字以内にしてください。") % {"max": NAME_MAX}
        )
    return cleaned


def register(request: HttpRequest, user: User, *, name: str, answer: str) -> WebAuthnCredential:
    """Keep the passkey the browser has just made for `user`, named `name` ("iPad 訪問用").
    Audited. Raises PasskeyRefused when the answer does not match the challenge."""
    cleaned = clean_name(name)
    data = _answer(answer)
    state = _take_state(request.session, REGISTER)
    if state is None:
        raise _no_challenge()
    try:
        with transaction.atomic():
            device: WebAuthnCredential = _helper(request).register_complete(
                user=user, state=state, data=data
            )
            device.name = cleaned
            device.save(update_fields=["name"])
            audit_record(
                user,
                AuditAction.SECOND_FACTOR,
                object_type=AUDIT_OBJECT,
                object_id=str(device.pk),
                detail="passkey added",
            )
    except IntegrityError:  # the same credential again
        raise PasskeyRefused(_("このパスキーはすでに登録されています。")) from None
    except _NOT_VERIFIED:
        audit_record(
            user, AuditAction.SECOND_FACTOR_FAILED, object_type=AUDIT_OBJECT, detail="passkey"
        )
        message = _("パスキーを登録できませんでした。もう一度お試しください。")
        raise PasskeyRefused(message) from None
    return device


def remove(user: User, pk: int) -> None:
    """Remove one of the person's own passkeys (another's: NotFound). The last way to pass
    the second factor cannot go: the next sign-in would then enrol anew with a password only."""
    with transaction.atomic():
        device = WebAuthnCredential.objects.select_for_update().filter(user=user, pk=pk).first()
        if device is None:
            raise NotFound()
        others = passkeys_of(user).exclude(pk=device.pk).exists()
        if not others and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise DomainError(
                _(
                    "二段階認証の手段がなくなるため、最後のパスキーは削除できません。"
                    "先に別のパスキーか認証アプリを設定してください。"
                )
            )
        name = device.name
        device.delete()
        audit_record(
            user,
            AuditAction.SECOND_FACTOR,
            object_type=AUDIT_OBJECT,
            object_id=str(pk),
            detail=f"passkey removed: {name}",
        )


def remove_all(user: User) -> None:
    """Every passkey of the person (an administrator's reset; the caller audits it)."""
    WebAuthnCredential.objects.filter(user=user).delete()


# --- the second factor at sign-in ------------------------------------------------------------


def authentication_options(request: HttpRequest, user: User) -> dict[str, Any]:
    """The options for `navigator.credentials.get()`, allowing only the person's passkeys."""
    options, state = _helper(request).authenticate_begin(user=user, require_user_verification=True)
    _keep_state(request.session, AUTHENTICATE, state)
    return dict(options)


def authenticate(
    request: HttpRequest, user: User, answer: str, *, address: str | None = None
) -> WebAuthnCredential:
    """The passkey of `user` that signed this session's challenge. Behind the sign-in guard,
    and counted by it like a wrong code when it fails (`Throttled` while locked)."""
    throttle.guard("second_factor", account=user.username, address=address, actor=user)
    try:
        device = _verify(request, user, answer)
    except PasskeyRefused as refused:
        throttle.failed("second_factor", account=user.username, address=address, actor=user)
        audit_record(
            user,
            AuditAction.SECOND_FACTOR_FAILED,
            object_type=AUDIT_OBJECT,
            detail=f"passkey: {refused.reason}",
        )
        raise
    throttle.succeeded("second_factor", account=user.username, address=address)
    return device


def _refusal(reason: str, message: str | None = None) -> PasskeyRefused:
    text = message or _("パスキーで確認できませんでした。もう一度お試しください。")
    return PasskeyRefused(text, reason=reason)


def _verify(request: HttpRequest, user: User, answer: str) -> WebAuthnCredential:
    try:
        data = _answer(answer)
    except PasskeyRefused as refused:
        raise _refusal("unreadable", refused.message) from None
    state = _take_state(request.session, AUTHENTICATE)
    if state is None:
        raise _refusal("no challenge", _no_challenge().message)
    try:
        raw_id = parse_authentication_credential_json(data).raw_id
    except _NOT_VERIFIED:
        raise _refusal("unreadable") from None
    with transaction.atomic():
        # Locked while checked and its count moved: the same answer twice, at once, passes once.
        locked = (
            WebAuthnCredential.objects.select_for_update()
            .filter(credential_id_sha256=WebAuthnCredential.get_credential_id_sha256(raw_id))
            .first()
        )
        if locked is None:
            raise _refusal("unknown or removed credential")
        if locked.user_id != user.pk or not locked.confirmed:
            raise _refusal("another person's credential")
        try:
            device: WebAuthnCredential = _helper(request).authenticate_complete(
                user=user, state=state, data=data
            )
        except _NOT_VERIFIED as error:
            raise _refusal(f"not verified: {type(error).__name__}") from None
    return device
