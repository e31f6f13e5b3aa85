"""403 and 404 answered on patient and thread routes (pages and API) are audited as REFUSED,
with the path and the patient (or the thread) named, for whoever is signed in. Other answers
and other routes write nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_logged_in
from django.test import Client

from audit import receivers
from audit.models import AuditAction, AuditEvent
from messaging import services as messaging_services

pytestmark = pytest.mark.django_db


def _refused() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.REFUSED).order_by("id"))


def _page_client(user) -> Client:
    client = Client()
    user_logged_in.disconnect(dispatch_uid="kz-audit-sign-in")
    try:
        client.force_login(user)
    finally:
        user_logged_in.connect(receivers.on_logged_in, dispatch_uid="kz-audit-sign-in")
    return client


def test_a_page_404_on_a_patient_is_audited(net):
    path = f"/patients/{net.patient.pk}/"
    assert _page_client(net.outsider).get(path).status_code == 404
    [row] = _refused()
    assert (row.actor_id, row.patient_id) == (net.outsider.pk, net.patient.pk)
    assert (row.object_type, row.object_id) == ("patients.patient", str(net.patient.pk))
    assert row.detail == f"GET {path} 404"


def test_an_api_403_on_a_patient_is_audited(net, api_as):
    # The nurse sees the patient but does not keep the medication list (docs/access.md).
    path = f"/api/v1/patients/{net.patient.pk}/medications/"
    response = api_as(net.nurse).post(path, {"name": "アムロジピン"}, format="json")
    assert response.status_code == 403
    [row] = _refused()
    assert (row.actor_id, row.patient_id) == (net.nurse.pk, net.patient.pk)
    assert row.detail == f"POST {path} 403"


def test_an_api_404_on_a_patient_is_audited(net, api_as):
    path = f"/api/v1/patients/{net.patient.pk}/"
    assert api_as(net.stranger).get(path).status_code == 404
    [row] = _refused()
    assert (row.actor_id, row.patient_id) == (net.stranger.pk, net.patient.pk)


def test_an_api_404_on_a_thread_names_the_thread(net, api_as):
    book = messaging_services.contact_book_ensure(net.patient)
    path = f"/api/v1/threads/{book.pk}/messages/"
    assert api_as(net.outsider).get(path).status_code == 404
    [row] = _refused()
    assert row.patient_id is None
    assert (row.object_type, row.object_id) == ("messaging.thread", str(book.pk))


def test_an_id_that_is_no_id_is_kept_as_text(net, api_as):
    path = "/api/v1/patients/abc/threads/"
    assert api_as(net.outsider).get(path).status_code == 404
    [row] = _refused()
    assert (row.patient_id, row.object_id) == (None, "abc")


def test_an_id_past_bigint_is_kept_as_text(net):
    huge = "9" * 30
    assert _page_client(net.outsider).get(f"/patients/{huge}/").status_code == 404
    [row] = _refused()
    assert (row.patient_id, row.object_id) == (None, huge)


def test_answers_that_are_not_refusals_and_other_routes_write_no_refusal(net, api_as):
    client = api_as(net.nurse)
    assert client.get(f"/api/v1/patients/{net.patient.pk}/").status_code == 200
    assert client.get("/api/v1/organizations/999999/").status_code == 404
    assert _page_client(net.nurse).get("/no-such-page/").status_code == 404
    assert _refused() == []


def test_an_anonymous_request_writes_no_refusal(net, api):
    assert api.get(f"/api/v1/patients/{net.patient.pk}/").status_code == 401
    assert Client().get(f"/patients/{net.patient.pk}/").status_code == 302
    assert _refused() == []
