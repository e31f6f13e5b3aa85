"""Hostile input over HTTP: every route answers 4xx in the right shape, never a 500.

One test per class of problem, each across routes: deep or huge JSON, NUL characters and lone
surrogates (bodies, query strings, headers, forms, cookies, pages), over-long URLs, numbers
where the schema says a string, booleans where it says an integer, bad `limit` and `offset`.
The strict-type and pagination tests walk the OpenAPI schema, so a new route is covered when
it is added. tests/test_schemathesis.py fuzzes the whole API against the schema.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.views import APIView

from config import parsers
from messaging import services as messaging_services
from messaging.models import Message
from patients.models import CareTeamMember
from teams.models import Network

pytestmark = pytest.mark.django_db


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _url(path: str, objects: dict[str, Any]) -> str:
    if path.startswith("/api/v1/networks/{id}"):
        objects = {**objects, "id": Network.objects.first().pk}
    if path.startswith("/api/v1/people/{id}"):
        objects = {**objects, "id": CareTeamMember.objects.first().user_id}
    return re.sub(r"\{(\w+)\}", lambda m: str(objects[m.group(1)]), path)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]


# --- deep and huge JSON ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "too_deep"),  # RecursionError in json.loads before
        ('{"threads": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
        ('{"threads": {"1": NaN}}', "invalid_json"),
        ('{"threads": ', "invalid_json"),
    ],
)
def test_bad_json_is_a_400_in_the_error_shape(net, api_as, body, code):
    response = api_as(net.nurse).post("/api/v1/sync/", body, content_type="application/json")
    _error(response, 400, code)


def test_json_that_is_not_utf8_is_a_400(net, api_as):
    response = api_as(net.nurse).post(
        "/api/v1/sync/",
        '{"threads": {}, "x": "é"}'.encode("latin-1"),
        content_type="application/json",
    )
    _error(response, 400, "invalid_json")


def test_json_body_over_the_size_limit_is_a_413(net, api_as, settings):
    settings.KIZUNA_JSON_MAX_BYTES = 1000
    body = '{"threads": {}, "pad": "' + "x" * 2000 + '"}'
    response = api_as(net.nurse).post("/api/v1/sync/", body, content_type="application/json")
    _error(response, 413, "too_large")


def test_deep_json_to_a_patient_route_asks_the_gate_first(net, api_as):
    """An outsider learns nothing from a bad body: the same 404 as with a good one."""
    deep = "[" * 5000 + "]" * 5000
    url = f"/api/v1/patients/{net.patient.pk}/problems/"
    response = api_as(net.outsider).post(url, deep, content_type="application/json")
    _error(response, 404, "not_found")


def test_every_api_view_parses_with_the_checked_parsers():
    """A view that names its own parser classes (DRF's token view did) takes them from
    config.parsers, or deep JSON would reach Python's recursive parser again."""
    allowed = {parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser}

    def views(patterns: list[Any]) -> list[Any]:
        out = []
        for p in patterns:
            if isinstance(p, URLResolver):
                out += views(p.url_patterns)
            elif isinstance(p, URLPattern):
                cls = getattr(p.callback, "cls", None)
                if cls is not None and issubclass(cls, APIView):
                    initkwargs = getattr(p.callback, "initkwargs", {})
                    out.append((p, initkwargs.get("parser_classes", cls.parser_classes)))
        return out

    found = views(get_resolver().url_patterns)
    assert len(found) > 30
    for pattern, classes in found:
        assert set(classes) <= allowed, pattern


# --- NUL characters and lone surrogates ------------------------------------------------------


@pytest.mark.parametrize("text", ["a\\u0000b", "a\\ud800b", "\\udfff"])
def test_bad_text_in_a_json_body_is_a_field_error_and_nothing_is_stored(net, api_as, text):
    book = messaging_services.contact_book_ensure(net.patient)
    cid = str(uuid.uuid4())
    body = f'{{"client_id": "{cid}", "body": "{text}"}}'
    response = api_as(net.nurse).post(
        f"/api/v1/threads/{book.pk}/messages/", body, content_type="application/json"
    )
    assert list(_error(response, 400, "invalid")["fields"]) == ["body"]
    assert not Message.objects.filter(client_id=cid).exists()


def test_bad_text_in_a_json_key_is_refused(net, api_as):
    body = '{"threads": {"1\\u0000": 0}}'
    response = api_as(net.nurse).post("/api/v1/sync/", body, content_type="application/json")
    assert "threads" in _error(response, 400, "invalid")["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients/?q=a%00b",
        "/api/v1/patients/?status=%00",
        "/api/v1/search/?q=%00",
        "/api/v1/organizations/?q=x%00",
        "/api/v1/organizations/?area=%00",
        "/api/v1/organizations/export.csv?q=%00",
        "/api/v1/people/?q=%00",
        "/api/v1/threads/?offset=%00",
        "/api/v1/threads/%00/",
    ],
)
def test_nul_in_an_api_query_or_path_is_a_400_in_the_error_shape(net, api_as, url):
    error = _error(api_as(net.nurse).get(url), 400, "invalid")
    if "?" in url:
        assert list(error["fields"]) == [url.split("?")[1].split("=")[0]]


@pytest.mark.parametrize(
    "url",
    [
        "/?q=a%00b",
        "/?status=%00",
        "/directory/?q=%00",
        "/directory/?area=%00",
        "/audit/?q=%00",
        "/audit/?patient=%00",
        "/threads/1/older/?before=%00",
    ],
)
def test_nul_in_a_page_query_is_a_400_page_naming_the_field(net, client, url):
    net.primary.is_staff = True
    net.primary.save()
    client.force_login(net.primary)
    response = client.get(url)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<code>" + url.split("?")[1].split("=")[0] + "</code>" in html
    assert "使用できない文字" in html


def test_nul_in_a_page_form_post_is_a_400(net, client):
    book = messaging_services.contact_book_ensure(net.patient)
    client.force_login(net.nurse)
    response = client.post(
        f"/threads/{book.pk}/post/", {"body": "a\x00b", "client_id": str(uuid.uuid4())}
    )
    assert response.status_code == 400
    assert (
        not Message.objects.filter(body__contains="a")
        .exclude(kind="system")
        .filter(author=net.nurse)
        .exists()
    )


def test_nul_in_an_api_form_body_is_a_field_error(net, api_as):
    url = f"/api/v1/patients/{net.patient.pk}/"
    response = api_as(net.primary).patch(
        url, "phone=%00", content_type="application/x-www-form-urlencoded"
    )
    assert list(_error(response, 400, "invalid")["fields"]) == ["phone"]


def test_an_api_form_with_too_many_fields_is_a_400_in_the_error_shape(net, api_as):
    url = f"/api/v1/patients/{net.patient.pk}/"
    body = "&".join(f"f{i}=x" for i in range(1500))
    response = api_as(net.primary).patch(
        url, body, content_type="application/x-www-form-urlencoded"
    )
    _error(response, 400, "invalid")


def test_nul_in_a_header_is_a_400(net, api):
    response = api.get("/api/v1/me/", HTTP_AUTHORIZATION="Token abc\x00def")
    _error(response, 400, "invalid")


def test_a_cookie_with_a_nul_is_ignored_not_a_500(net, client):
    client.cookies["sessionid"] = '"abcdefgh\\000ijk"'  # a quoted cookie may escape a NUL
    response = client.get("/")
    assert response.status_code == 302  # treated as signed out


def test_a_forged_real_ip_header_is_not_a_500(net, api_as):
    response = api_as(net.nurse).get(f"/api/v1/patients/{net.patient.pk}/", HTTP_X_REAL_IP="x")
    assert response.status_code == 200


# --- over-long URLs --------------------------------------------------------------------------


def test_a_url_over_the_limit_is_a_414_on_the_api_and_on_pages(net, api_as, client, settings):
    long_query = "?q=" + "a" * settings.KIZUNA_MAX_URL_BYTES
    _error(api_as(net.nurse).get("/api/v1/patients/" + long_query), 414, "uri_too_long")
    client.force_login(net.nurse)
    assert client.get("/" + long_query).status_code == 414
    assert client.get("/api/v1/patients/?q=" + "a" * 100).status_code != 414


def test_a_query_with_too_many_fields_is_a_400_in_the_error_shape(net, api_as):
    _error(api_as(net.nurse).get("/api/v1/patients/?" + "a&" * 1500), 400, "invalid")


# --- strict types ------------------------------------------------------------------------


def _body_schemas(schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return schema["components"]["schemas"][ref]


def test_a_number_for_any_string_of_any_request_body_is_a_field_error(
    schema, api_objects, api_as, net
):
    """Walks every JSON request body of the schema: each string property, sent a number,
    is refused with an error on that field (DRF's own fields store "5" and make a UUID)."""
    api = api_as(net.primary)
    checked = 0
    for path, method, op in _operations(schema):
        body_schema = _body_schemas(schema, op)
        if body_schema is None or path.endswith("/break-glass/"):
            continue
        for name, prop in body_schema.get("properties", {}).items():
            if prop.get("type") != "string" or prop.get("readOnly") or "enum" in prop:
                continue
            if prop.get("format") in {"date", "binary"}:
                continue  # DRF refuses numbers there already
            url = _url(path, api_objects)
            response = getattr(api, method)(url, {name: 12345}, format="json")
            error = _error(response, 400)
            assert name in error["fields"], (method, path, name, error)
            checked += 1
    assert checked > 25


def test_the_reported_cases_body_5_and_client_id_12345(net, api_as):
    book = messaging_services.contact_book_ensure(net.patient)
    url = f"/api/v1/threads/{book.pk}/messages/"
    api = api_as(net.nurse)
    error = _error(api.post(url, {"client_id": str(uuid.uuid4()), "body": 5}, format="json"), 400)
    assert list(error["fields"]) == ["body"]
    error = _error(api.post(url, {"client_id": 12345, "body": "x"}, format="json"), 400)
    assert list(error["fields"]) == ["client_id"]
    assert not Message.objects.filter(thread=book, author=net.nurse).exists()


@pytest.mark.parametrize("value", [True, 1.5, 2**64, "1e3"])
def test_booleans_fractions_and_huge_numbers_are_not_integers(net, api_as, value):
    book = messaging_services.contact_book_ensure(net.patient)
    response = api_as(net.nurse).post(
        f"/api/v1/threads/{book.pk}/read/", {"seq": value}, format="json"
    )
    assert list(_error(response, 400, "invalid")["fields"]) == ["seq"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=-5",
        "limit=0",
        "limit=201",
        "limit=1.5",
        "offset=-1",
        "offset=99999999999999999999999",
        "limit=%EF%BC%91",
    ],
)
def test_bad_limit_or_offset_is_a_field_error_on_every_paginated_list(
    schema, api_objects, api_as, net, query
):
    api = api_as(net.primary)
    name = query.split("=")[0]
    lists = [
        (
            path,
            "".join(
                f"{p['name']}=x&"
                for p in op["parameters"]
                if p.get("required") and p["in"] == "query"
            ),
        )
        for path, method, op in _operations(schema)
        if method == "get" and any(p["name"] == name for p in op.get("parameters", []))
    ]
    assert len(lists) >= (12 if name == "offset" else 13)  # the cursor page has a limit only
    for path, required in lists:
        response = api.get(_url(path, api_objects) + "?" + required + query)
        error = _error(response, 400, "invalid")
        assert list(error["fields"]) == [name], path


def test_a_good_limit_and_offset_still_page(net, api_as):
    body = api_as(net.primary).get("/api/v1/patients/?limit=1&offset=0").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert len(body["results"]) == 1


# --- the schema --------------------------------------------------------------------------


def test_schema_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_paginated_lists_are_envelopes_and_every_operation_documents_its_errors(schema):
    components = schema["components"]["schemas"]
    assert set(components["Error"]["properties"]["error"]["required"]) == {
        "code",
        "message",
        "fields",
    }
    for path, method, op in _operations(schema):
        responses = op["responses"]
        for code in ["400", "414"] + (["404"] if "{" in path else []):
            ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", (method, path, code)
        if method == "get" and any(p["name"] == "offset" for p in op.get("parameters", [])):
            ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
            page = components[ref.rsplit("/", 1)[1]]
            assert set(page["properties"]) == {"count", "next", "previous", "results"}, path


def test_refusals_speak_the_requests_language(net, api_as):
    response = api_as(net.nurse).get("/api/v1/patients/?q=%00", HTTP_ACCEPT_LANGUAGE="en")
    error = _error(response, 400, "invalid")
    assert error["message"] == "Invalid input."
    assert error["fields"]["q"] == [
        "Contains characters that are not allowed (such as the NUL character)."
    ]
    response = api_as(net.nurse).post(
        "/api/v1/sync/",
        "[" * 40 + "]" * 40,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert _error(response, 400, "too_deep")["message"].startswith("The JSON is nested too deeply")
