"""Two-factor sign-in: a password alone reaches no patient data; TOTP and recovery codes
work once; wrong codes are audited and slowed down; the API token needs a code too."""

from __future__ import annotations

import re

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEvent
from config.asgi import application
from teams import second_factor, sessions
from teams.checks import demo_codes_need_debug
from teams.models import Membership
from tests.factories import PASSWORD
from tests.signin import authenticator, sign_in, token_request, totp_code

pytestmark = pytest.mark.django_db


def password_only(user, agent: str = "Tablet") -> Client:
    """Signed in with the password, the second factor not passed."""
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def session_of(client: Client):
    return client.session


# --- a password alone reaches nothing -------------------------------------------------------


def test_a_password_only_session_is_sent_to_the_second_factor_from_a_patient_page(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.get(f"/patients/{net.patient.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/account/two-factor/?next=%2Fpatients%2F{net.patient.pk}%2F"


def test_a_password_only_session_gets_403_from_the_api(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.get(f"/api/v1/patients/{net.patient.pk}/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "second_factor_required"


def test_a_password_only_session_gets_no_htmx_section(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.get(f"/patients/{net.patient.pk}/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/account/two-factor/")


def test_a_password_only_session_reaches_neither_the_admin_nor_the_audit_log(net):
    net.primary.is_staff = net.primary.is_superuser = True
    net.primary.save()
    authenticator(net.primary)
    client = password_only(net.primary)
    for path in ("/admin/", "/audit/", "/directory/", "/account/devices/"):
        assert client.get(path).status_code == 302, path


@pytest.mark.django_db(transaction=True)
async def test_a_password_only_session_opens_no_socket(net):
    from channels.db import database_sync_to_async

    def cookie() -> str:
        authenticator(net.nurse)
        client = password_only(net.nurse)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    value = await database_sync_to_async(cookie)()
    comm = WebsocketCommunicator(
        application,
        "/ws/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode()),
        ],
    )
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


def test_the_code_passes_the_second_factor_and_goes_on_to_the_page_asked_for(net):
    device = authenticator(net.nurse)
    client = password_only(net.nurse)
    target = f"/patients/{net.patient.pk}/"
    response = client.post("/account/two-factor/", {"code": totp_code(device), "next": target})
    assert response.status_code == 302
    assert response["Location"] == target
    assert client.get(target).status_code == 200
    assert sessions.verdict(session_of(client)) is sessions.Verdict.OK
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, action=AuditAction.SIGN_IN, object_type="second_factor"
    ).exists()


def test_a_next_address_on_another_site_is_not_followed(net):
    device = authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.post(
        "/account/two-factor/", {"code": totp_code(device), "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


# --- codes: wrong, reused, too many ---------------------------------------------------------


def test_a_wrong_code_is_refused_on_the_form_and_audited(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.post("/account/two-factor/", {"code": "000000"})
    assert response.status_code == 400
    assert "確認コードが正しくないか" in response.content.decode()
    assert sessions.verdict(session_of(client)) is sessions.Verdict.UNVERIFIED
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, action=AuditAction.SECOND_FACTOR_FAILED
    ).exists()


def test_an_empty_code_is_a_field_error_not_a_500(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.post("/account/two-factor/", {"code": ""})
    assert response.status_code == 200
    assert "field-error" in response.content.decode()


def test_a_totp_code_works_once(net):
    device = authenticator(net.nurse)
    code = second_factor.current_code(device)
    first, second = password_only(net.nurse, "A"), password_only(net.nurse, "B")
    assert first.post("/account/two-factor/", {"code": code}).status_code == 302
    assert second.post("/account/two-factor/", {"code": code}).status_code == 400
    assert sessions.verdict(session_of(second)) is sessions.Verdict.UNVERIFIED


def test_a_recovery_code_works_once(net):
    authenticator(net.nurse)
    codes = second_factor.new_recovery_codes(net.nurse)
    first, second = password_only(net.nurse, "A"), password_only(net.nurse, "B")
    assert first.post("/account/two-factor/", {"code": codes[0].upper()}).status_code == 302
    assert second.post("/account/two-factor/", {"code": codes[0]}).status_code == 400
    assert second_factor.recovery_codes_left(net.nurse) == second_factor.RECOVERY_CODE_COUNT - 1


def test_wrong_codes_in_a_row_are_answered_429_with_retry_after(net):
    device = authenticator(net.nurse)
    client = password_only(net.nurse)
    assert client.post("/account/two-factor/", {"code": "000000"}).status_code == 400
    response = client.post("/account/two-factor/", {"code": totp_code(device)})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "秒後にもう一度" in response.content.decode()


# --- enrolment ------------------------------------------------------------------------------


def test_the_first_sign_in_enrols_an_authenticator_and_shows_ten_recovery_codes(net):
    client = password_only(net.nurse)
    response = client.get("/account/two-factor/?next=/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/setup/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert secret is not None
    device = TOTPDevice.objects.get(user=net.nurse, confirmed=False)
    assert second_factor.key_of(device) == secret.group(1)

    done = client.post("/account/two-factor/setup/", {"code": totp_code(device)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == second_factor.RECOVERY_CODE_COUNT
    assert set(codes) == set(
        StaticToken.objects.filter(device__user=net.nurse).values_list("token", flat=True)
    )
    assert second_factor.is_enrolled(net.nurse)
    assert client.get(f"/patients/{net.patient.pk}/").status_code == 200


def test_enrolment_with_a_wrong_code_enrols_nothing(net):
    client = password_only(net.nurse)
    client.get("/account/two-factor/setup/")
    response = client.post("/account/two-factor/setup/", {"code": "123456x"})
    assert response.status_code == 400
    assert not second_factor.is_enrolled(net.nurse)


def test_a_password_alone_cannot_replace_an_enrolled_authenticator(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.get("/account/two-factor/setup/")
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/"
    assert not TOTPDevice.objects.filter(user=net.nurse, confirmed=False).exists()


def test_a_password_alone_cannot_make_new_recovery_codes(net):
    authenticator(net.nurse)
    client = password_only(net.nurse)
    response = client.post("/account/recovery-codes/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")
    assert second_factor.recovery_codes_left(net.nurse) == 0


def test_new_recovery_codes_replace_the_old_ones(net):
    client = Client()
    sign_in(client, net.nurse)
    old = second_factor.new_recovery_codes(net.nurse)
    response = client.post("/account/recovery-codes/")
    assert response.status_code == 200
    new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(new) == second_factor.RECOVERY_CODE_COUNT
    assert not set(old) & set(
        StaticToken.objects.filter(device__user=net.nurse).values_list("token", flat=True)
    )


def test_an_administrator_resets_a_persons_second_factor_and_ends_their_sessions(net):
    admin = net.primary
    Membership.objects.filter(user=admin).update(is_admin=True)
    Membership.objects.filter(user=net.outsider).update(organization=net.lead_clinic)
    authenticator(net.outsider)
    theirs = Client()
    sign_in(theirs, net.outsider)
    admin_web = Client()
    sign_in(admin_web, admin)
    response = admin_web.post(
        f"/account/people/{net.outsider.pk}/", {"action": "reset-second-factor"}
    )
    assert response.status_code == 302
    assert not second_factor.is_enrolled(net.outsider)
    assert theirs.get("/").status_code == 302  # signed out
    again = password_only(net.outsider)
    assert again.get("/account/two-factor/")["Location"].startswith("/account/two-factor/setup/")


# --- the API token --------------------------------------------------------------------------


def test_the_api_token_needs_the_code(net):
    body = token_request(net.nurse)
    del body["otp_code"]
    response = APIClient().post("/api/v1/auth/token/", body)
    assert response.status_code == 400
    assert "otp_code" in response.json()["error"]["fields"]


def test_a_wrong_code_for_the_api_token_gets_the_same_answer_as_a_wrong_password(net):
    authenticator(net.nurse)
    api = APIClient()
    wrong_code = api.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": PASSWORD, "otp_code": "000000"},
    )
    assert wrong_code.status_code in (400, 429)
    wrong_password = api.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": "nope", "otp_code": "000000"},
    )
    assert wrong_password.status_code == 400
    if wrong_code.status_code == 400:
        assert wrong_code.json() == wrong_password.json()


def test_an_account_without_a_second_factor_gets_no_api_token(net):
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": PASSWORD, "otp_code": "123456"},
    )
    assert response.status_code == 403
    assert "二段階認証が設定されていません" in response.json()["error"]["message"]


def test_a_code_used_for_a_token_does_not_sign_in_a_session(net):
    body = token_request(net.nurse)
    assert APIClient().post("/api/v1/auth/token/", body).status_code == 200
    client = password_only(net.nurse)
    assert client.post("/account/two-factor/", {"code": body["otp_code"]}).status_code == 400


# --- the demo's shortcut ---------------------------------------------------------------------


@override_settings(DEBUG=False, KIZUNA_DEMO_SHOW_CODES=True)
def test_the_demo_shortcut_is_refused_without_debug():
    errors = demo_codes_need_debug(None)
    assert [e.id for e in errors] == ["kizuna.E001"]


@override_settings(DEBUG=True, KIZUNA_DEMO_SHOW_CODES=True)
def test_the_demo_shortcut_shows_a_demo_accounts_code_and_only_theirs(net):
    demo = TOTPDevice.objects.create(
        user=net.nurse, name=second_factor.DEMO, confirmed=True, key="ab" * 20
    )
    page = password_only(net.nurse).get("/account/two-factor/")
    assert second_factor.current_code(demo) in page.content.decode()
    authenticator(net.pharmacist)
    other = password_only(net.pharmacist).get("/account/two-factor/")
    assert 'id="demo-code"' not in other.content.decode()


def test_seed_demo_enrols_every_demo_account(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert TOTPDevice.objects.filter(name=second_factor.DEMO, confirmed=True).count() >= 6


@override_settings(OTP_TOTP_THROTTLE_FACTOR=0)
def test_wrong_codes_lock_the_account_like_wrong_passwords_the_right_code_included(net):
    device = authenticator(net.nurse)
    client = password_only(net.nurse)
    for _ in range(5):  # KIZUNA_SIGN_IN_ACCOUNT_FAILURES
        assert client.post("/account/two-factor/", {"code": "000000"}).status_code == 400
    response = client.post("/account/two-factor/", {"code": totp_code(device)})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60
    assert sessions.verdict(session_of(client)) is sessions.Verdict.UNVERIFIED
    api = APIClient().post("/api/v1/auth/token/", token_request(net.nurse))
    assert api.status_code == 429
    assert AuditEvent.objects.filter(action=AuditAction.LOCKOUT).exists()
