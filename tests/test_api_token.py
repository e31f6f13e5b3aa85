"""API clients authenticate with a token they get from their login."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_api_client_gets_a_token_and_reads_its_patients_with_it(net, api):
    response = api.post("/api/v1/auth/token/", {"username": "nurse", "password": PASSWORD})
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    patients = api.get("/api/v1/patients/").json()["results"]
    assert [p["id"] for p in patients] == [net.patient.pk]


def test_wrong_password_gets_a_400_in_the_error_shape(net, api):
    response = api.post("/api/v1/auth/token/", {"username": "nurse", "password": "nope"})
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["error"]["fields"]


def test_schema_is_served(net, api_as):
    response = api_as(net.nurse).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/patients/" in response.content


def _token_for(api, username: str) -> str:
    response = api.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
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
    # the token with its user, then the patients and their count
    # the token with its user, then the patients' count and page, and the audit row
    with django_assert_num_queries(4) as queries:
        assert api.get("/api/v1/patients/").status_code == 200
    assert "authtoken_token" in queries.captured_queries[0]["sql"]
