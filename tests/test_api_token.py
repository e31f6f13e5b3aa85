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
