"""The untrusted-input refusals (400 and 414, answered before any other middleware runs)
carry the same security headers as a page: the Content-Security-Policy, Permissions-Policy,
nosniff, the referrer and opener policies and X-Frame-Options."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

HEADERS = (
    "Content-Security-Policy",
    "Permissions-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
)


def without_nonce(policy: str) -> str:
    # A page's policy names the nonce of its scripts, new each time; a refusal has none.
    return re.sub(r" 'nonce-[^']+'", "", policy)


def headers_of(response) -> dict[str, str | None]:
    found = {name: response.get(name) for name in HEADERS}
    found["Content-Security-Policy"] = without_nonce(response["Content-Security-Policy"])
    return found


def page_headers() -> dict[str, str | None]:
    response = Client().get("/login/")
    assert response.status_code == 200
    return headers_of(response)


@pytest.mark.parametrize(
    "path",
    [
        "/login/?q=a%00b",  # a NUL in the query: 400
        "/api/v1/patients/?q=a%00b",  # the same on the API: 400 in its error shape
        "/login/?q=" + "a" * 9000,  # an over-long URL: 414
        "/api/v1/patients/?q=" + "a" * 9000,
    ],
)
def test_a_refusal_of_untrusted_input_carries_the_pages_security_headers(path):
    response = Client().get(path)
    assert response.status_code in (400, 414)
    assert headers_of(response) == page_headers()
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_a_refused_form_post_carries_them_too():
    response = Client().post("/login/", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert headers_of(response) == page_headers()
