"""The access matrix: every patient-scoped route of the project refuses people off the team.

The routes are found by walking the project's URL resolver for patterns with a `patient_id`
kwarg, so a route that any app adds later (messaging threads, media, conferences, web pages)
is covered without editing this file. For each route and each of GET, POST, PUT, PATCH and
DELETE, the `outsider` (same organization, not on the team) and the `stranger` (another
network) get 404 (405 only where the view does not implement the method). Views marked
`gate_exempt = True` (break glass) must instead refuse an empty request with 400 and grant
nothing. No list endpoint under /api/v1/ shows the team's patient to the outsider.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import IntConverter, UUIDConverter
from django.urls.resolvers import RegexPattern, RoutePattern
from rest_framework.test import APIClient

from patients.access import can_see_patient
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Patient
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory
from tests.patients.factories import CareWishFactory, make_record

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    """One URL pattern with its full route, the kwargs it takes and the view behind it."""

    parts: tuple[Any, ...]  # the pattern objects from the root to the leaf
    callback: Any
    name: str | None

    @property
    def text(self) -> str:
        return "".join(str(p) for p in self.parts)

    @property
    def kwargs(self) -> dict[str, Any]:
        """kwarg name -> converter (RoutePattern) or None (a regex group)."""
        found: dict[str, Any] = {}
        for part in self.parts:
            if isinstance(part, RoutePattern):
                found.update(part.converters)
            elif isinstance(part, RegexPattern):
                found.update(dict.fromkeys(part.regex.groupindex))
        return found

    @property
    def view_class(self) -> Any:
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def gate_exempt(self) -> bool:
        return bool(
            getattr(self.callback, "gate_exempt", False)
            or getattr(self.view_class, "gate_exempt", False)
        )

    def implements(self, method: str) -> bool | None:
        """Whether the view has a handler for the method; None for function views (unknown)."""
        if self.view_class is None:
            return None
        return callable(getattr(self.view_class, method, None))


def all_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(resolver: URLResolver, parts: tuple[Any, ...]) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry, (*parts, entry.pattern))
            elif isinstance(entry, URLPattern):
                routes.append(Route((*parts, entry.pattern), entry.callback, entry.name))

    walk(get_resolver(), ())
    return routes


def patient_routes() -> list[Route]:
    return [r for r in all_routes() if "patient_id" in r.kwargs]


_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def build_url(route: Route, values: dict[str, str]) -> str:
    url = ""
    for part in route.parts:
        if isinstance(part, RoutePattern):
            url += _ROUTE_PARAM.sub(lambda m: values[m.group("name")], str(part))
        elif isinstance(part, RegexPattern):
            text = str(part).lstrip("^").rstrip("$").replace("\\", "")
            url += _REGEX_GROUP.sub(lambda m: values[m.group("name")], text)
        else:
            url += str(part)
    return "/" + url


def sample_string(converter: Any, route_text: str) -> str:
    """A value the converter accepts for a string kwarg, meaningful where the route hints.

    A kind name fits most string routes: a record kind ("problems"), or a wish kind on
    wish routes, so the view gets past its own kind check and reaches the gate.
    """
    if isinstance(converter, UUIDConverter):
        return str(uuid.uuid4())
    if "wish" in route_text:
        return "green"
    return "problems"


class Ids:
    """Ids of real objects belonging to the team's patient, to fill a route's other kwargs."""

    def __init__(self, patient: Patient, records: dict[str, Any], member: CareTeamMember) -> None:
        self.patient = patient
        self.records = records
        self.member = member

    def for_kwarg(self, name: str, route_text: str, filled: dict[str, str]) -> int:
        if name == "member_id":
            return self.member.pk
        if name == "item_id":
            # The record kind is either spelled in the route or given by a string kwarg.
            for kind, item in self.records.items():
                if f"/{kind}/" in f"/{route_text}" or kind in filled.values():
                    return int(item.pk)
        # "<model>_id": an object of that model (any app) that belongs to the patient.
        model_name = name.removesuffix("_id").replace("_", "")
        for model in apps.get_models():
            if model._meta.model_name != model_name:
                continue
            fields = {f.name for f in model._meta.get_fields()}
            if "patient" in fields:
                obj = model._default_manager.filter(patient=self.patient).first()
                if obj is not None:
                    return int(obj.pk)
        return 1


def url_for(route: Route, ids: Ids) -> str:
    values: dict[str, str] = {"patient_id": str(ids.patient.pk)}
    kwargs = route.kwargs
    ints = [n for n, c in kwargs.items() if c is None or isinstance(c, IntConverter)]
    # Strings first, so that an int kwarg can pick an object matching them (kind -> item).
    for name, converter in kwargs.items():
        if name not in values and name not in ints:
            values[name] = sample_string(converter, route.text)
    for name in ints:
        if name not in values:
            values[name] = str(ids.for_kwarg(name, route.text, values))
    url = build_url(route, values)
    match = resolve(url)
    # The URL must reach the route under test, or the test would prove nothing.
    assert match.func == route.callback, f"{url} resolved to {match.func}, not {route.text}"
    assert str(match.kwargs["patient_id"]) == str(ids.patient.pk)
    return url


@pytest.fixture
def ids(net) -> Ids:
    records = make_record(net.patient, net.primary)
    CareWishFactory(patient=net.patient, recorded_by=net.primary)
    member = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    return Ids(net.patient, records, member)


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def _call(client: APIClient, method: str, url: str) -> Any:
    # An empty JSON object: a view that validated input before asking the gate would answer
    # 400 with field errors here instead of 404.
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, data="{}", content_type="application/json")


def test_enumerated_routes_include_the_patient_detail_route():
    routes = patient_routes()
    assert routes
    names = {r.name for r in routes}
    assert "api-patient-detail" in names
    assert "api-patient-break-glass" in names


@pytest.mark.parametrize("persona", ["outsider", "stranger"])
def test_every_patient_route_answers_404_to_people_off_the_team(net, ids, client, persona):
    user = getattr(net, persona)
    client.force_login(user)
    failures = []
    checked = 0
    for route in patient_routes():
        if route.gate_exempt:
            continue
        url = url_for(route, ids)
        for method in METHODS:
            response = _call(client, method, url)
            checked += 1
            allowed = {404}
            if route.implements(method) is not True:
                allowed.add(405)
            if response.status_code not in allowed:
                failures.append(f"{method.upper()} {url} -> {response.status_code}")
            elif net.patient.name in response.content.decode(errors="replace"):
                failures.append(f"{method.upper()} {url} shows the patient's name")
    assert checked > 0
    assert failures == []
    assert not can_see_patient(user, net.patient)


@pytest.mark.parametrize("persona", ["outsider", "stranger"])
def test_gate_exempt_routes_refuse_an_empty_request_and_grant_nothing(net, ids, client, persona):
    user = getattr(net, persona)
    client.force_login(user)
    exempt = [r for r in patient_routes() if r.gate_exempt]
    assert exempt, "the break-glass route is marked gate_exempt"
    for route in exempt:
        url = url_for(route, ids)
        for method in METHODS:
            response = _call(client, method, url)
            if route.implements(method) is False:
                assert response.status_code in (404, 405), f"{method} {url}"
                continue
            assert response.status_code == 400, f"{method} {url} -> {response.status_code}"
            assert net.patient.name not in response.content.decode(errors="replace")
    assert not BreakGlassGrant.objects.filter(user=user).exists()
    assert not can_see_patient(user, net.patient)


def test_the_team_primary_reaches_the_same_detail_url(net, ids, client):
    # A control: the URL builder makes URLs that work for someone on the team.
    client.force_login(net.primary)
    route = next(r for r in patient_routes() if r.name == "api-patient-detail")
    response = client.get(url_for(route, ids))
    assert response.status_code == 200
    assert response.json()["name"] == net.patient.name


def _shows_patient(data: Any, patient: Patient) -> bool:
    if isinstance(data, dict):
        if data.get("patient") == patient.pk or data.get("patient_id") == patient.pk:
            return True
        if data.get("id") == patient.pk and ("name_kana" in data or "date_of_birth" in data):
            return True
        return any(_shows_patient(v, patient) for v in data.values())
    if isinstance(data, list):
        return any(_shows_patient(v, patient) for v in data)
    return False


def test_no_api_list_endpoint_shows_the_team_patient_to_the_outsider(net, ids, client):
    # The outsider has a patient of their own, so the lists are not trivially empty.
    own = PatientFactory(name="松本 キヨ", name_kana="まつもと きよ")
    ConsentFactory(patient=own, recorded_by=net.outsider)
    CareTeamMemberFactory(patient=own, user=net.outsider, role=CareRole.VISITING_NURSE)
    client.force_login(net.outsider)
    lists = [
        r
        for r in all_routes()
        if r.text.startswith("api/v1/") and not r.kwargs and r.implements("get") is not False
    ]
    assert any(r.name == "api-patient-list" for r in lists)
    for route in lists:
        url = build_url(route, {})
        response = client.get(url)
        assert response.status_code < 500, url
        body = response.content.decode(errors="replace")
        assert net.patient.name not in body, url
        assert net.patient.name_kana not in body, url
        if response.get("Content-Type", "").startswith("application/json"):
            assert not _shows_patient(json.loads(body), net.patient), url
    listed = client.get("/api/v1/patients/").json()["results"]
    assert [p["id"] for p in listed] == [own.pk]
