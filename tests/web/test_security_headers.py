"""The security headers of every page and API answer, as a snapshot.

The routes are found by walking the URL resolver (as tests/patients/test_access_matrix.py
does), so a route added later is covered without editing this file. Each is fetched
anonymously, signed in through the session (the pages) and with a token (the API); whatever
the status, the answer must carry the same headers: the CSP below (only the nonce varies),
nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, X-Frame-Options, Permissions-Policy, and
`Cache-Control: private, no-store` whenever someone is signed in.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.urls.converters import IntConverter, UUIDConverter
from rest_framework.test import APIClient

from messaging.models import Thread
from messaging.services import contact_book_ensure
from teams import services as team_services
from tests.patients.factories import CareWishFactory, make_record
from tests.patients.test_access_matrix import Ids, Route, all_routes, build_url, sample_string

pytestmark = pytest.mark.django_db

# The policy as served, directive by directive; `{host}` is the request's host and `NONCE`
# stands for the request's nonce (present when the page used it).
EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self' NONCE",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",  # blob: the previews of photos on the page (media/)
    "font-src": "'self'",
    "connect-src": "'self' ws://{host}",
    "manifest-src": "'self'",
    "worker-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
NONCE = re.compile(r"'nonce-[A-Za-z0-9+/=]+'")
# Views that set their own Cache-Control on purpose.
OWN_CACHE_CONTROL = {"service-worker": "no-cache"}


def parse_csp(value: str) -> dict[str, str]:
    directives: dict[str, str] = {}
    for part in value.split(";"):
        name, _, sources = part.strip().partition(" ")
        directives[name] = NONCE.sub("NONCE", sources.strip())
    return directives


def expected_csp(host: str, nonce_used: bool) -> dict[str, str]:
    out = {k: v.format(host=host) for k, v in EXPECTED_CSP.items()}
    if not nonce_used:
        out["script-src"] = "'self'"
    return out


def url_for(route: Route, ids: Ids, thread: Thread) -> str:
    values: dict[str, str] = {}
    kwargs = route.kwargs
    for name, converter in kwargs.items():
        if name == "patient_id":
            values[name] = str(ids.patient.pk)
        elif name == "thread_id":
            values[name] = str(thread.pk)
        elif isinstance(converter, UUIDConverter):
            values[name] = str(uuid.uuid4())
        elif converter is not None and not isinstance(converter, IntConverter):
            values[name] = sample_string(converter, route.text)
    for name in kwargs:
        if name not in values:
            values[name] = str(ids.for_kwarg(name, route.text, values))
    return build_url(route, values)


def page_routes() -> list[Route]:
    """Every route but the admin's (its own pages, staff only, covered by its index)."""
    return [r for r in all_routes() if not r.text.startswith("admin/")] + [
        r for r in all_routes() if r.text == "admin/"
    ]


@pytest.fixture
def urls(net) -> list[tuple[str, str | None]]:
    records = make_record(net.patient, net.primary)
    CareWishFactory(patient=net.patient, recorded_by=net.primary)
    ids = Ids(net.patient, records, net.patient.care_team.get(user=net.nurse))
    thread = contact_book_ensure(net.patient)
    return [(url_for(r, ids, thread), r.name) for r in page_routes()]


def check(response: Any, url: str, name: str | None, *, signed_in: bool) -> list[str]:
    """The differences from the snapshot, as readable lines (empty: all as expected)."""
    problems: list[str] = []
    where = f"{url} ({response.status_code})"
    for header, value in EXPECTED.items():
        if response.get(header) != value:
            problems.append(f"{where}: {header} = {response.get(header)!r}, want {value!r}")
    if response.get("Permissions-Policy") != settings.PERMISSIONS_POLICY:
        problems.append(f"{where}: Permissions-Policy = {response.get('Permissions-Policy')!r}")
    if "Server" in response:
        problems.append(f"{where}: Server = {response['Server']!r}")
    csp = response.get("Content-Security-Policy")
    if csp is None:
        problems.append(f"{where}: no Content-Security-Policy")
    else:
        nonce_used = "'nonce-" in csp
        if parse_csp(csp) != expected_csp("testserver", nonce_used):
            problems.append(f"{where}: Content-Security-Policy = {csp!r}")
        if "unsafe-inline" in csp or "unsafe-eval" in csp:
            problems.append(f"{where}: unsafe source in {csp!r}")
    cache = response.get("Cache-Control", "")
    if name in OWN_CACHE_CONTROL:
        if OWN_CACHE_CONTROL[name] not in cache:
            problems.append(f"{where}: Cache-Control = {cache!r}")
    elif signed_in and not {"private", "no-store"} <= {d.strip() for d in cache.split(",")}:
        # Django's never_cache (login, logout, admin) says more, which is as strict.
        problems.append(f"{where}: Cache-Control = {cache!r}, want 'private, no-store'")
    return problems


def test_every_page_carries_the_security_headers(net, urls):
    nurse = Client()
    nurse.force_login(net.nurse)
    problems: list[str] = []
    for url, name in urls:
        problems += check(Client().get(url), url, name, signed_in=False)
        problems += check(nurse.get(url), url, name, signed_in=True)
    assert not problems, "\n".join(problems)


def test_every_api_answer_to_a_token_carries_the_security_headers(net, urls):
    _, key = team_services.token_create(net.nurse)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    problems: list[str] = []
    for url, name in urls:
        if url.startswith("/api/"):
            problems += check(api.get(url), url, name, signed_in=True)
    assert not problems, "\n".join(problems)


def test_a_page_nonce_is_the_one_in_the_policy(net, client_as):
    response = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk]))
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    body = response.content.decode()
    # htmx is the page's one nonce'd script; no inline script runs without it.
    assert f'nonce="{nonce.group(1)}"' in body
    for tag in re.findall(r"<script\b[^>]*>", body):
        assert "src=" in tag or 'type="application/json"' in tag or "nonce=" in tag, tag
    assert " style=" not in body


def test_static_files_and_the_service_worker_keep_their_own_caching(net, client_as):
    client = client_as(net.nurse)
    worker = client.get(reverse("service-worker"))
    assert "no-cache" in worker["Cache-Control"]
    assert "no-store" not in worker["Cache-Control"]


def test_the_api_docs_run_under_the_same_policy(net, client_as):
    client = client_as(net.nurse)
    page = client.get(reverse("api-docs"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "<style" not in body
    assert "cdn.jsdelivr" not in body
    assert not re.search(r"<script>", body)  # every script from a file of this site
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert parse_csp(page["Content-Security-Policy"]) == expected_csp("testserver", False)


@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
def test_hsts_is_sent_over_tls_and_the_socket_origin_is_wss(net):
    client = Client()
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert parse_csp(response["Content-Security-Policy"])["connect-src"] == (
        "'self' wss://testserver"
    )
    plain = client.get(reverse("login"))
    assert "Strict-Transport-Security" not in plain
