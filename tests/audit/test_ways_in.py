"""Sign-ins, failed sign-ins and sign-outs are audited, on the web login and the API's token
login: who, from where, and for a failure the name tried, never the password."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD
from tests.signin import token_request

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
WRONG = "not-the-password-123"


def _only(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def test_a_web_sign_in_is_audited_with_the_address(net):
    client = Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT="Tablet")
    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 302
    row = _only(AuditAction.SIGN_IN)
    assert row.actor_id == net.nurse.pk
    assert (row.ip_address, row.user_agent, row.detail) == (ADDRESS, "Tablet", "web")


def test_a_failed_web_sign_in_is_audited_with_the_name_tried_and_no_password(net):
    client = Client(REMOTE_ADDR=ADDRESS)
    response = client.post(reverse("login"), {"username": "nurse", "password": WRONG})
    assert response.status_code == 200
    row = _only(AuditAction.SIGN_IN_FAILED)
    assert row.actor_id is None
    assert row.detail == "username=nurse"
    assert row.ip_address == ADDRESS
    assert not AuditEvent.objects.filter(detail__contains=WRONG).exists()


def test_a_web_sign_out_is_audited(net):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(net.nurse)
    assert client.post(reverse("logout")).status_code == 302
    row = _only(AuditAction.SIGN_OUT)
    assert (row.actor_id, row.ip_address) == (net.nurse.pk, ADDRESS)


def test_an_api_token_sign_in_and_sign_out_are_audited(net, api):
    response = api.post("/api/v1/auth/token/", token_request(net.nurse), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    row = _only(AuditAction.SIGN_IN)
    token_id = str(response.json()["id"])
    assert (row.actor_id, row.object_type, row.object_id) == (
        net.nurse.pk,
        "teams.apitoken",
        token_id,
    )
    assert (row.ip_address, row.detail) == (ADDRESS, "api")

    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.post("/api/v1/auth/logout/").status_code == 204
    out = _only(AuditAction.SIGN_OUT)
    assert (out.actor_id, out.object_id) == (net.nurse.pk, token_id)


def test_a_failed_api_token_sign_in_is_audited(net, api):
    response = api.post(
        "/api/v1/auth/token/",
        {"username": "nobody", "password": WRONG, "otp_code": "123456"},
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 400
    row = _only(AuditAction.SIGN_IN_FAILED)
    assert (row.detail, row.ip_address) == ("username=nobody", ADDRESS)
    assert not AuditEvent.objects.filter(detail__contains=WRONG).exists()
