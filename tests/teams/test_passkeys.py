"""Passkeys as the second factor: registering (named, listed, removed), signing in with one,
and every refusal (a wrong challenge, another person's passkey, a replayed signature count, a
removed passkey, a challenge used twice), audited and counted like wrong codes. A software
passkey (tests/passkey_device.py) answers with real P-256 signatures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings
from django_otp_webauthn.models import WebAuthnCredential

from audit.models import AuditAction, AuditEvent
from teams import passkeys, second_factor, sessions
from teams.models import Membership
from tests.factories import PASSWORD
from tests.passkey_device import SoftPasskey
from tests.signin import authenticator, sign_in

pytestmark = pytest.mark.django_db

REGISTER_OPTIONS = "/account/two-factor/passkey/register/options/"
SIGN_IN_OPTIONS = "/account/two-factor/passkey/sign-in/options/"
NEW = "/account/two-factor/passkey/new/"
SIGN_IN = "/account/two-factor/passkey/"


def password_only(user) -> Client:
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def options(client: Client, url: str) -> dict[str, Any]:
    response = client.post(url)
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    return response.json()


def register(client: Client, device: SoftPasskey, name: str = "iPad 訪問用", **kw):
    answer = device.create(options(client, REGISTER_OPTIONS), **kw)
    return client.post(NEW, {"name": name, "credential": answer})


def enrolled_with_passkey(user, name: str = "iPad 訪問用") -> SoftPasskey:
    """`user` with an authenticator app and a passkey registered through the pages."""
    authenticator(user)
    client = Client()
    sign_in(client, user)
    device = SoftPasskey()
    assert register(client, device, name).status_code == 302
    return device


def passkey_sign_in(client: Client, device: SoftPasskey, **kw):
    answer = device.get(options(client, SIGN_IN_OPTIONS), **kw)
    return client.post(SIGN_IN, {"credential": answer, "next": "/directory/"})


def failures(user) -> int:
    return int(
        AuditEvent.objects.filter(
            actor_id=user.pk, action=AuditAction.SECOND_FACTOR_FAILED, detail__startswith="passkey"
        ).count()
    )


# --- registering, listing, removing ------------------------------------------------------------


def test_a_person_registers_a_named_passkey_and_sees_it_on_their_account_page(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    response = register(client, SoftPasskey(), "iPad 訪問用")
    assert response.status_code == 302
    assert response["Location"] == "/account/devices/"
    (stored,) = passkeys.passkeys_of(net.nurse)
    assert stored.name == "iPad 訪問用"
    page = client.get("/account/devices/").content.decode()
    assert "iPad 訪問用" in page
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, action=AuditAction.SECOND_FACTOR, detail="passkey added"
    ).exists()


def test_a_person_may_register_several_passkeys(net):
    enrolled_with_passkey(net.nurse, "iPad 訪問用")
    client = Client()
    sign_in(client, net.nurse)
    assert register(client, SoftPasskey(), "事務所のPC").status_code == 302
    assert [p.name for p in passkeys.passkeys_of(net.nurse)] == ["iPad 訪問用", "事務所のPC"]


def test_registration_options_exclude_the_persons_passkeys_and_ask_for_no_attestation(net):
    enrolled_with_passkey(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    body = options(client, REGISTER_OPTIONS)
    assert body["rp"] == {"name": "Kizuna", "id": "testserver"}
    assert body["attestation"] == "none"
    assert len(body["excludeCredentials"]) == 1


def test_registration_with_a_wrong_challenge_is_refused_and_stores_nothing(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    response = register(client, SoftPasskey(), challenge="AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status_code == 400
    assert "パスキーを登録できませんでした" in response.content.decode()
    assert not WebAuthnCredential.objects.filter(user=net.nurse).exists()
    assert failures(net.nurse) == 1


def test_registration_without_a_challenge_is_refused(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    device = SoftPasskey()
    answer = device.create(options(client, REGISTER_OPTIONS))
    assert client.post(NEW, {"name": "iPad", "credential": answer}).status_code == 302
    # The same answer again: its challenge is spent.
    again = client.post(NEW, {"name": "iPad 2", "credential": answer})
    assert again.status_code == 400
    assert "有効期限が切れたか" in again.content.decode()


def test_registration_without_a_name_or_an_answer_is_a_field_error(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    assert client.post(NEW, {"name": "", "credential": "{}"}).status_code == 400
    response = client.post(NEW, {"name": "iPad", "credential": "not json"})
    assert response.status_code == 400
    assert "読み取れませんでした" in response.content.decode()
    assert client.post(NEW, {"name": "iPad"}).status_code == 400


def test_a_password_alone_cannot_add_a_passkey_to_an_enrolled_account(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    assert client.post(REGISTER_OPTIONS).status_code == 403
    assert client.get(NEW)["Location"] == "/account/two-factor/"


def test_the_first_enrolment_may_be_a_passkey_with_recovery_codes(net):
    client = password_only(net.nurse)
    setup = client.get("/account/two-factor/setup/").content.decode()
    assert "パスキー（タブレットにおすすめ）" in setup
    assert "認証アプリ" in setup
    response = register(client, SoftPasskey(), "iPad 訪問用")
    assert response.status_code == 200
    assert response.content.decode().count("<li><code>") == second_factor.RECOVERY_CODE_COUNT
    assert second_factor.is_enrolled(net.nurse)
    assert not second_factor.has_authenticator(net.nurse)
    assert sessions.verdict(client.session) is sessions.Verdict.OK
    assert client.get(f"/patients/{net.patient.pk}/").status_code == 200


def test_a_person_removes_a_passkey_and_it_no_longer_signs_in(net):
    device = enrolled_with_passkey(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    (stored,) = passkeys.passkeys_of(net.nurse)
    response = client.post(f"/account/passkeys/{stored.pk}/remove/")
    assert response.status_code == 302
    assert not passkeys.has_passkey(net.nurse)
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, detail="passkey removed: iPad 訪問用"
    ).exists()
    # Its answer to a fresh challenge: the passkey is gone (the TOTP user gets no options).
    later = password_only(net.nurse)
    assert later.post(SIGN_IN_OPTIONS).status_code == 400
    assert later.post(SIGN_IN, {"credential": device.get({"challenge": "x"})}).status_code == 400


def test_another_persons_passkey_cannot_be_removed(net):
    enrolled_with_passkey(net.nurse)
    (stored,) = passkeys.passkeys_of(net.nurse)
    authenticator(net.pharmacist)
    client = Client()
    sign_in(client, net.pharmacist)
    assert client.post(f"/account/passkeys/{stored.pk}/remove/").status_code == 404
    assert passkeys.has_passkey(net.nurse)


def test_the_last_way_to_pass_the_second_factor_cannot_be_removed(net):
    client = password_only(net.nurse)
    register(client, SoftPasskey())
    (stored,) = passkeys.passkeys_of(net.nurse)
    response = client.post(f"/account/passkeys/{stored.pk}/remove/", follow=True)
    assert "最後のパスキーは削除できません" in response.content.decode()
    assert passkeys.has_passkey(net.nurse)


def test_a_password_only_session_cannot_remove_a_passkey(net):
    enrolled_with_passkey(net.nurse)
    (stored,) = passkeys.passkeys_of(net.nurse)
    client = password_only(net.nurse)
    response = client.post(f"/account/passkeys/{stored.pk}/remove/")
    assert response["Location"].startswith("/account/two-factor/")
    assert passkeys.has_passkey(net.nurse)


# --- signing in with a passkey -------------------------------------------------------------------


def test_a_passkey_passes_the_second_factor_and_goes_on_to_the_page_asked_for(net):
    device = enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    page = client.get("/account/two-factor/").content.decode()
    assert "パスキーで確認" in page
    assert "teams/passkey.js" in page
    body = options(client, SIGN_IN_OPTIONS)
    assert body["userVerification"] == "required"
    assert len(body["allowCredentials"]) == 1
    response = client.post(SIGN_IN, {"credential": device.get(body), "next": "/directory/"})
    assert response.status_code == 302
    assert response["Location"] == "/directory/"
    assert sessions.verdict(client.session) is sessions.Verdict.OK
    assert client.get(f"/patients/{net.patient.pk}/").status_code == 200
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, action=AuditAction.SIGN_IN, detail="passkey"
    ).exists()
    (stored,) = passkeys.passkeys_of(net.nurse)
    assert stored.sign_count == 1
    assert stored.last_used_at is not None


def test_a_password_only_session_with_a_passkey_still_reaches_no_patient_data(net):
    enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    assert client.get(f"/patients/{net.patient.pk}/").status_code == 302
    assert client.get(f"/api/v1/patients/{net.patient.pk}/").status_code == 403
    # Asking for a challenge passes nothing.
    options(client, SIGN_IN_OPTIONS)
    assert sessions.verdict(client.session) is sessions.Verdict.UNVERIFIED
    assert client.get(f"/patients/{net.patient.pk}/").status_code == 302


def test_an_answer_to_a_wrong_challenge_is_refused_audited_and_counted(net):
    device = enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    response = passkey_sign_in(client, device, challenge="AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status_code == 400
    assert "パスキーで確認できませんでした" in response.content.decode()
    assert sessions.verdict(client.session) is sessions.Verdict.UNVERIFIED
    assert failures(net.nurse) == 1


def test_another_persons_passkey_is_refused(net):
    theirs = enrolled_with_passkey(net.pharmacist)
    enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    response = passkey_sign_in(client, theirs)
    assert response.status_code == 400
    assert sessions.verdict(client.session) is sessions.Verdict.UNVERIFIED
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, detail="passkey: another person's credential"
    ).exists()


def test_a_replayed_signature_count_is_refused(net):
    device = enrolled_with_passkey(net.nurse)
    assert passkey_sign_in(password_only(net.nurse), device).status_code == 302
    # A clone (or a recorded answer) signs with a count that did not go up.
    client = password_only(net.nurse)
    response = passkey_sign_in(client, device, sign_count=device.sign_count)
    assert response.status_code == 400
    assert sessions.verdict(client.session) is sessions.Verdict.UNVERIFIED
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, detail__startswith="passkey: not verified"
    ).exists()


def test_a_removed_passkey_is_refused(net):
    device = enrolled_with_passkey(net.nurse)
    enrolled_with_passkey(net.nurse, "予備")  # another one, so the first may go
    client = password_only(net.nurse)
    body = options(client, SIGN_IN_OPTIONS)
    WebAuthnCredential.objects.filter(name="iPad 訪問用").delete()
    response = client.post(SIGN_IN, {"credential": device.get(body)})
    assert response.status_code == 400
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, detail="passkey: unknown or removed credential"
    ).exists()


def test_an_answer_works_once(net):
    device = enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    answer = device.get(options(client, SIGN_IN_OPTIONS))
    assert client.post(SIGN_IN, {"credential": answer}).status_code == 302
    other = password_only(net.nurse)
    options(other, SIGN_IN_OPTIONS)  # a challenge of its own, which the old answer does not sign
    assert other.post(SIGN_IN, {"credential": answer}).status_code == 400
    again = client.post(SIGN_IN, {"credential": answer})  # its own challenge is spent
    assert again.status_code == 400


def test_a_challenge_expires(net, monkeypatch):
    device = enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    body = options(client, SIGN_IN_OPTIONS)
    session = client.session
    state = session[passkeys.STATE_KEYS[passkeys.AUTHENTICATE]]
    state["at"] -= passkeys.CHALLENGE_SECONDS + 1
    session[passkeys.STATE_KEYS[passkeys.AUTHENTICATE]] = state
    session.save()
    response = client.post(SIGN_IN, {"credential": device.get(body)})
    assert response.status_code == 400
    assert "有効期限が切れたか" in response.content.decode()


@override_settings(KIZUNA_SIGN_IN_ACCOUNT_FAILURES=100)  # each counts as a failure
def test_a_hostile_answer_is_a_400_not_a_500(net):
    enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    options(client, SIGN_IN_OPTIONS)
    deep = "[" * 100 + "]" * 100
    nested = json.dumps({"rawId": "AA", "id": "AA", "type": "public-key", "response": deep})
    for answer in ("", "null", "[]", deep, nested, '{"rawId": 5}', "x" * 40_000):
        options(client, SIGN_IN_OPTIONS)
        assert client.post(SIGN_IN, {"credential": answer}).status_code == 400, answer[:20]


def test_wrong_passkey_answers_lock_the_account_like_wrong_codes(net):
    device = enrolled_with_passkey(net.nurse)
    client = password_only(net.nurse)
    for _ in range(5):  # KIZUNA_SIGN_IN_ACCOUNT_FAILURES
        assert passkey_sign_in(client, device, challenge="AAAA").status_code == 400
    response = passkey_sign_in(client, device)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60
    assert sessions.verdict(client.session) is sessions.Verdict.UNVERIFIED
    assert AuditEvent.objects.filter(action=AuditAction.LOCKOUT).exists()


@override_settings(KIZUNA_WEBAUTHN_RP_ID="kizuna.example.jp")
def test_the_rp_id_comes_from_settings(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    assert options(client, REGISTER_OPTIONS)["rp"]["id"] == "kizuna.example.jp"


def test_an_answer_from_another_origin_is_refused(net):
    authenticator(net.nurse)
    client = Client()
    sign_in(client, net.nurse)
    response = register(client, SoftPasskey(origin="https://evil.example"))
    assert response.status_code == 400
    assert not passkeys.has_passkey(net.nurse)


# --- an administrator's reset ------------------------------------------------------------------


def test_an_administrators_reset_removes_the_persons_passkeys(net):
    Membership.objects.filter(user=net.primary).update(is_admin=True)
    Membership.objects.filter(user=net.outsider).update(organization=net.lead_clinic)
    enrolled_with_passkey(net.outsider)
    admin = Client()
    sign_in(admin, net.primary)
    response = admin.post(f"/account/people/{net.outsider.pk}/", {"action": "reset-second-factor"})
    assert response.status_code == 302
    assert not passkeys.has_passkey(net.outsider)
    assert not second_factor.is_enrolled(net.outsider)
