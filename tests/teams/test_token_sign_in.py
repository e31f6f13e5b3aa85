"""`teams.services.token_sign_in`: the API token's sign-in sequence as one service (the guard,
the password, the second factor, the token), which TokenLoginApi only calls."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from config.errors import DomainError, Forbidden
from teams import services
from teams.models import ApiToken, token_digest
from tests.factories import PASSWORD
from tests.signin import authenticator, totp_code

pytestmark = pytest.mark.django_db


def request():
    req = RequestFactory().post("/api/v1/auth/token/", REMOTE_ADDR="192.0.2.7")
    req.session = SessionStore()
    return req


def test_the_password_and_a_code_give_a_token_for_the_device(net):
    code = totp_code(authenticator(net.nurse))
    token, key = services.token_sign_in(
        request(), username="nurse", password=PASSWORD, otp_code=code
    )
    assert ApiToken.objects.get(digest=token_digest(key)) == token
    assert token.user == net.nurse
    assert token.session_key == ""


def test_a_wrong_code_and_a_wrong_password_are_one_refusal(net):
    authenticator(net.nurse)
    with pytest.raises(DomainError) as wrong_code:
        services.token_sign_in(request(), username="nurse", password=PASSWORD, otp_code="000000")
    with pytest.raises(DomainError) as wrong_password:
        services.token_sign_in(request(), username="nurse", password="nope", otp_code="000000")  # noqa: S106
    assert wrong_code.value.message == wrong_password.value.message
    assert wrong_code.value.fields == wrong_password.value.fields
    assert not ApiToken.objects.exists()


def test_an_account_without_a_second_factor_is_refused(net):
    with pytest.raises(Forbidden):
        services.token_sign_in(request(), username="nurse", password=PASSWORD, otp_code="123456")


def test_a_token_asked_for_from_the_persons_web_session_is_tied_to_it(net):
    code = totp_code(authenticator(net.nurse))
    req = request()
    req.session[SESSION_KEY] = str(net.nurse.pk)
    req.session.save()
    token, _key = services.token_sign_in(req, username="nurse", password=PASSWORD, otp_code=code)
    assert token.session_key == req.session.session_key
