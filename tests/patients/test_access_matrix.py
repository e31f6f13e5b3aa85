"""The access matrix: every patient-scoped route of the project refuses people off the team.

The routes are found by walking the project's URL resolver for patterns with a `patient_id`
kwarg, so a route that any app adds later (messaging threads, media, conferences, web pages)
is covered without editing this file. For each route and each of GET, POST, PUT, PATCH and
DELETE, the `outsider` (same organization, not on the team) and the `stranger` (another
network) get 404 (405 only where the view does not implement the method). Views marked
`gate_exempt = True` (break glass) must instead refuse an empty request with 400 and grant
nothing. No list endpoint under /api/v1/ shows the team's patient to the outsider.

The same walk, over patient and thread routes, proves that a member who sees the patient but
may not do this (the break-glass reader, who may only read) gets 403 for every write, in the
API's one error shape.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.converters import IntConverter, UUIDConverter
from django.urls.resolvers import RegexPattern, RoutePattern
from rest_framework.test import APIClient

from messaging.services import contact_book_ensure
from patients import services as patient_services
from patients.access import Capability, can_see_patient
from patients.models import BreakGlassGrant, CareRole, CareTeamMember, Patient
from teams.models import Profession
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory, UserFactory
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

    A kind name fits most string routes: a record kind ("problems"), a wish kind on wish
    routes, or a body site on photo routes, so the view gets past its own kind check and
    reaches the gate.
    """
    if isinstance(converter, UUIDConverter):
        return str(uuid.uuid4())
    if "wish" in route_text:
        return "green"
    if "photos" in route_text:
        return "sacrum"  # a body site: the wound timeline (media.views)
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


# --- members who see the patient but may not do this: 403 --------------------------------
#
# The break-glass reader sees the patient and may do nothing else (patients.access.POLICY), so
# every write of every patient route and every thread route must answer them 403: a route
# added later is covered without editing this file. Views whose writes need only reading (the
# read mark) say so with `capability = Capability.READ`.


@pytest.fixture
def reader(net, ids):
    """A nurse of another network with break glass open on the team's patient; the notice
    in the contact book is message 1, in her name."""
    user = UserFactory(username="er-nurse", profession=Profession.NURSE)
    patient_services.break_glass_open(
        user, net.patient.pk, reason="救急搬送時の情報確認のため", hours=1
    )
    return user


def _reads_only(route: Route) -> bool:
    declared = getattr(route.view_class, "capability", None) or getattr(
        route.callback, "capability", None
    )
    return declared == Capability.READ


def _answers(route: Route, method: str) -> set[int]:
    """What the break-glass reader may get: a read is shown (or, for a form, refused with
    403), a write refused with 403, unless the view reads only."""
    if method == "get":
        allowed = {200, 403}
    elif _reads_only(route):
        allowed = {200, 201, 204, 400, 302}  # 302: a page's form answered with a redirect
    else:
        allowed = {403}
    if route.implements(method) is not True:
        allowed.add(405)
    return allowed


def test_every_write_of_a_patient_route_answers_403_to_a_member_who_may_not(
    net, ids, client, reader
):
    client.force_login(reader)
    failures = []
    for route in patient_routes():
        if route.gate_exempt:
            continue
        url = url_for(route, ids)
        for method in METHODS:
            response = _call(client, method, url)
            allowed = _answers(route, method)
            if response.status_code not in allowed:
                failures.append(f"{method.upper()} {url} -> {response.status_code}")
            elif response.status_code == 403 and url.startswith("/api/"):
                error = response.json()["error"]
                if error["code"] != "forbidden" or not error["message"] or error["fields"]:
                    failures.append(f"{method.upper()} {url}: {error}")
    assert failures == []


def thread_routes() -> list[Route]:
    return [r for r in all_routes() if "thread_id" in r.kwargs and "patient_id" not in r.kwargs]


def test_every_write_of_a_thread_route_answers_403_to_a_reader_and_404_to_outsiders(
    net, ids, client, reader
):
    book = contact_book_ensure(net.patient)
    routes = thread_routes()
    assert {r.name for r in routes} >= {"thread-post", "thread-read"}
    failures = []
    for person, expect_404 in ((reader, False), (net.outsider, True), (net.stranger, True)):
        client.force_login(person)
        for route in routes:
            values = {"thread_id": str(book.pk), "seq": "1"}
            assert set(route.kwargs) <= set(values), route.text
            url = build_url(route, values)
            for method in METHODS:
                response = _call(client, method, url)
                if expect_404:
                    allowed = {404} if route.implements(method) is True else {404, 405}
                else:
                    allowed = _answers(route, method)
                if response.status_code not in allowed:
                    failures.append(f"{person} {method.upper()} {url} -> {response.status_code}")
    assert failures == []


def test_a_page_form_refused_to_a_member_shows_the_403_page_with_the_reason(net, client):
    client.force_login(net.pharmacist)
    url = reverse("patient-wish-edit", args=[net.patient.pk, "green"])
    for response in (client.get(url), client.post(url, {"preference": "自宅"})):
        assert response.status_code == 403
        body = response.content.decode()
        assert "希望(グリーン・イエローカード)の編集" in body
        assert "<html" in body
    client.force_login(net.nurse)
    url = reverse("patient-record-create", args=[net.patient.pk, "medications"])
    assert client.post(url, {"name": "フロセミド錠"}).status_code == 403
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(
    ("persona", "method", "path", "data"),
    [
        ("pharmacist", "delete", "consent/", None),
        ("pharmacist", "post", "consent/", {"note": "x"}),
        ("pharmacist", "post", "care-team/", {"user_id": 1, "role": "visiting_nurse"}),
        ("nurse", "post", "care-team/primary/", {"user_id": 1}),
        ("pharmacist", "post", "wishes/", {"kind": "green", "preference": "自宅"}),
        ("nurse", "post", "medications/", {"name": "x"}),
        ("care_worker", "post", "problems/", {"name": "x"}),
        ("care_worker", "patch", "", {"phone": "03-0000-0000"}),
    ],
)
def test_an_api_write_refused_to_a_member_is_403_in_the_one_error_shape(
    net, client, persona, method, path, data
):
    if persona == "care_worker":
        user = UserFactory(username="helper", profession=Profession.CARE_WORKER)
        CareTeamMemberFactory(patient=net.patient, user=user, role=CareRole.CARE_WORKER)
    else:
        user = getattr(net, persona)
    client.force_login(user)
    url = f"/api/v1/patients/{net.patient.pk}/{path}"
    response = getattr(client, method)(url, data=data, format="json")
    assert response.status_code == 403, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["fields"] == {}
    assert "できません" in body["error"]["message"]
