"""API clients authenticate with a token they get from their login.

Each login makes a new token for that device. A token expires after
KIZUNA_API_TOKEN_IDLE_SECONDS without use; the authentication statement moves its last use
forward at most once a minute, so most requests write nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from teams.models import ApiToken, User, token_digest
from tests.signin import token_request

pytestmark = pytest.mark.django_db


def test_api_client_gets_a_token_and_reads_its_patients_with_it(net, api):
    response = api.post("/api/v1/auth/token/", token_request(net.nurse))
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    patients = api.get("/api/v1/patients/").json()["results"]
    assert [p["id"] for p in patients] == [net.patient.pk]


def test_wrong_password_gets_a_400_in_the_error_shape(net, api):
    response = api.post("/api/v1/auth/token/", token_request(net.nurse, password="nope"))  # noqa: S106
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["error"]["fields"]


def test_schema_is_served(net, api_as):
    response = api_as(net.nurse).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/patients/" in response.content


def _token_for(api, username: str) -> str:
    user = User.objects.get(username=username)
    response = api.post("/api/v1/auth/token/", token_request(user))
    return str(response.json()["token"])


def test_an_unknown_token_is_refused_with_401_in_the_error_shape(net, api):
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_request_without_credentials_is_401(net, api):
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_token_of_a_deactivated_user_is_refused(net, api):
    token = _token_for(api, "nurse")
    net.nurse.is_active = False
    net.nurse.save(update_fields=["is_active"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_token_request_reads_its_user_in_one_query(net, api, django_assert_num_queries):
    token = _token_for(api, "nurse")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    # the token with its user, then the patients' count and page, and the audit row
    with django_assert_num_queries(4) as queries:
        assert api.get("/api/v1/patients/").status_code == 200
    assert "teams_apitoken" in queries.captured_queries[0]["sql"]


def _token_row(key: str) -> ApiToken:
    return ApiToken.objects.get(digest=token_digest(key))


def _age(key: str, **delta: float) -> dt.datetime:
    """Move the token's last use back by `delta`; returns the new value."""
    when = timezone.now() - dt.timedelta(**delta)
    ApiToken.objects.filter(digest=token_digest(key)).update(last_used_at=when)
    return when


def test_each_login_makes_its_own_token_and_only_its_digest_is_stored(net, api):
    first, second = _token_for(api, "nurse"), _token_for(api, "nurse")
    assert first != second
    assert ApiToken.objects.filter(user=net.nurse).count() == 2
    assert not ApiToken.objects.filter(digest__in=[first, second]).exists()
    assert _token_row(first).user_agent == ""  # the test client sends none


def test_a_fresh_token_works(net, api):
    api.credentials(HTTP_AUTHORIZATION=f"Token {_token_for(api, 'nurse')}")
    assert api.get("/api/v1/me/").status_code == 200


def test_a_token_idle_past_the_expiry_is_refused_with_401_and_deleted(net, api, settings):
    settings.KIZUNA_API_TOKEN_IDLE_SECONDS = 3600
    token = _token_for(api, "nurse")
    _age(token, seconds=3601)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not ApiToken.objects.filter(digest=token_digest(token)).exists()


def test_a_token_used_within_the_expiry_keeps_working(net, api, settings):
    settings.KIZUNA_API_TOKEN_IDLE_SECONDS = 3600
    token = _token_for(api, "nurse")
    _age(token, seconds=3500)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").status_code == 200
    # The use moved its last use forward: the hour starts again.
    assert _token_row(token).last_used_at > timezone.now() - dt.timedelta(seconds=5)


def test_last_use_is_written_at_most_once_a_minute_in_the_same_statement(
    net, api, django_assert_num_queries
):
    token = _token_for(api, "nurse")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    recent = _age(token, seconds=30)
    with django_assert_num_queries(4):
        assert api.get("/api/v1/patients/").status_code == 200
    assert _token_row(token).last_used_at == recent  # under a minute old: not written
    _age(token, seconds=90)
    with django_assert_num_queries(4) as queries:  # the same count: no extra write
        assert api.get("/api/v1/patients/").status_code == 200
    assert "UPDATE" in queries.captured_queries[0]["sql"]
    assert _token_row(token).last_used_at > timezone.now() - dt.timedelta(seconds=5)


def test_the_api_logout_revokes_the_token_it_is_called_with(net, api):
    token, other = _token_for(api, "nurse"), _token_for(api, "nurse")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.post("/api/v1/auth/logout/").status_code == 204
    assert api.get("/api/v1/me/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {other}")
    assert api.get("/api/v1/me/").status_code == 200  # the other device keeps its token
