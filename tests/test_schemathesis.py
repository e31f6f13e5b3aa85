"""schemathesis against the API: generated requests, answers checked against the schema.

Every operation of `/api/schema/` is called with requests that schemathesis generates from
the schema (`positive` data: what the schema allows), through Django's WSGI handler in this
process (the same middleware, views and database as under Daphne, inside the test's
transaction), authenticated with an API token of `net.primary`, a staff member and the
primary physician of a throw-away patient. Path parameters name that patient, its contact
book, a message, a record item, a care-team place and directory objects, so requests reach
real rows instead of stopping at 404; every other part of a request is generated.

Checked: no answer is a server error, and every answer's status, content type and body are
in the schema (the error shape included). Nothing is excluded: withdrawing consent, deleting a
record item or a message are all done to the throw-away patient inside the test's
transaction, which is rolled back after each operation.

Bounded for `make test`: `SCHEMATHESIS_MAX_EXAMPLES` examples per operation (default 5, about
a minute for the ~60 operations); `make schemathesis` runs more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from notifications.models import Notice
from teams import services as team_services
from teams.models import Network, UserSession

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Loaded at collection, through the app itself (no database needed for the schema).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def _connection_kept() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request, which would
    close the test's transaction; Django's test client turns that off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(net: Any, api_objects: dict[str, Any], _connection_kept: None) -> dict[str, Any]:
    """The throw-away patient's objects, by path parameter, and a token for its physician."""
    return {
        "token": team_services.token_create(net.primary)[1],
        # A bare {id} is the directory's, by route (below).
        "params": {k: v for k, v in api_objects.items() if k != "id"},
        "ids": {
            "/api/v1/networks/": Network.objects.first().pk,
            "/api/v1/people/": net.nurse.pk,
            "/api/v1/organizations/": net.lead_clinic.pk,
            # Another device of the physician's: ending it leaves the test's token working.
            "/api/v1/me/tokens/": team_services.token_create(net.primary)[0].pk,
            "/api/v1/me/sessions/": UserSession.objects.create(
                user=net.primary, session_key="schemathesis-session"
            ).pk,
            # One of the physician's own notices.
            "/api/v1/notifications/": Notice.objects.create(
                recipient=net.primary, kind="message.new", key="schemathesis", title="t", url="/"
            ).pk,
        },
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_within_its_schema(case: Any, world: dict[str, Any]) -> None:
    for name in case.path_parameters or {}:
        if name in world["params"]:
            case.path_parameters[name] = world["params"][name]
        elif name == "id":
            prefix = case.path.split("{")[0]
            case.path_parameters[name] = world["ids"][prefix]
    case.call_and_validate(headers={"Authorization": f"Token {world['token']}"}, checks=CHECKS)
