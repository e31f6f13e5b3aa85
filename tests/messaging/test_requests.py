"""Requests with typed replies: addressed, answered once, withdrawn, listed; bad input refused
with nothing written (issue 13, items 1 and 7)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from messaging.models import Message, Request, RequestReply, RequestStatus
from notifications.models import Notice
from patients.models import CareRole

pytestmark = pytest.mark.django_db


def _reply(api, request_id, kind="acknowledged", body=""):
    return api.post(
        f"/api/v1/requests/{request_id}/reply/",
        {"client_id": str(uuid.uuid4()), "kind": kind, "body": body},
        format="json",
    )


def _create(api, thread_id, **data):
    data.setdefault("client_id", str(uuid.uuid4()))
    data.setdefault("body", "ご家族に電話をお願いします")
    return api.post(f"/api/v1/threads/{thread_id}/requests/", data, format="json")


def test_a_request_to_a_role_is_owned_by_its_holder_and_notifies_them(net, book, api_as):
    due = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    response = _create(api_as(net.nurse), book.pk, to_role="pharmacist", due_at=due)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["owner"]["username"] == "pharmacist"
    assert data["addressee_role"] == "pharmacist"
    assert data["status"] == "open"
    assert Message.objects.get(thread=book, seq=data["seq"]).body == "ご家族に電話をお願いします"
    assert Notice.objects.filter(recipient=net.pharmacist, kind="request.new").count() == 1


def test_a_request_to_a_person_of_the_team_is_theirs(net, book, api_as):
    response = _create(api_as(net.nurse), book.pk, to_user=net.secondary.pk)
    assert response.status_code == 201
    assert response.json()["owner"]["username"] == "secondary"


def test_a_retried_request_returns_the_first(net, book, api_as):
    cid = str(uuid.uuid4())
    first = _create(api_as(net.nurse), book.pk, to_role="pharmacist", client_id=cid)
    again = _create(api_as(net.nurse), book.pk, to_role="pharmacist", client_id=cid)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Request.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"to_role": "care_manager"}, "to_role"),  # nobody holds it on this team
        ({"to_role": "admiral"}, "to_role"),
        ({"to_user": 999_999}, "to_user"),
        ({}, "to_user"),
        ({"to_role": "pharmacist", "to_user": 1}, "to_user"),
        ({"to_role": "pharmacist", "due_at": "2001-01-01T09:00:00+09:00"}, "due_at"),
        ({"to_role": "pharmacist", "body": "   "}, "body"),
    ],
)
def test_bad_requests_are_400_with_the_field_and_write_nothing(net, book, api_as, data, field):
    response = _create(api_as(net.nurse), book.pk, **data)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert Request.objects.count() == 0
    assert Message.objects.filter(thread=book).count() == 0


def test_a_request_to_a_stranger_is_refused(net, book, api_as):
    response = _create(api_as(net.nurse), book.pk, to_user=net.stranger.pk)
    assert response.status_code == 400
    assert "to_user" in response.json()["error"]["fields"]


def test_an_outsider_cannot_make_a_request_in_the_thread(net, book, api_as):
    assert _create(api_as(net.outsider), book.pk, to_role="pharmacist").status_code == 404


def test_the_owner_answers_with_a_typed_reply_posted_in_the_thread(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    response = _reply(api_as(net.pharmacist), request.pk, "will_call", "15時に電話します")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "answered"
    assert data["answered_by"]["username"] == "pharmacist"
    assert [r["label"] for r in data["replies"]] == ["電話します"]
    reply = Message.objects.get(thread=book, seq=data["replies"][0]["seq"])
    assert reply.body == "【電話します】\n15時に電話します"
    assert reply.reply_to_id == request.message_id
    assert Notice.objects.filter(recipient=net.nurse, kind="request.reply").count() == 1


def test_replying_to_someone_elses_request_is_403_and_writes_nothing(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    before = Message.objects.count()
    response = _reply(api_as(net.secondary), request.pk)
    assert response.status_code == 403
    assert "宛先" in response.json()["error"]["message"]
    assert Message.objects.count() == before
    assert RequestReply.objects.count() == 0


def test_acknowledging_twice_is_400(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    assert _reply(api_as(net.pharmacist), request.pk).status_code == 201
    before = Message.objects.count()
    second = _reply(api_as(net.pharmacist), request.pk, "in_progress")
    assert second.status_code == 400
    assert "kind" in second.json()["error"]["fields"]
    assert Message.objects.count() == before


def test_an_unknown_reply_kind_is_400(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    assert _reply(api_as(net.pharmacist), request.pk, "maybe").status_code == 400


def test_an_outsider_replying_gets_404(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    assert _reply(api_as(net.outsider), request.pk).status_code == 404
    assert _reply(api_as(net.outsider), "nonsense").status_code == 404


def test_cannot_on_a_routine_request_closes_it_as_declined(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    response = _reply(api_as(net.pharmacist), request.pk, "cannot", "在庫がありません")
    assert response.json()["status"] == "declined"


def test_the_requester_withdraws_and_only_the_requester(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    url = f"/api/v1/requests/{request.pk}/withdraw/"
    assert api_as(net.pharmacist).post(url).status_code == 403
    response = api_as(net.nurse).post(url)
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert api_as(net.nurse).post(url).status_code == 400
    assert _reply(api_as(net.pharmacist), request.pk).status_code == 400


def test_my_open_requests_are_oldest_due_first_with_the_overdue_marked(
    net, book, api_as, ask, django_assert_max_num_queries
):
    now = timezone.now()
    later = ask(net.nurse, book, to_role=CareRole.PHARMACIST, due_at=now + dt.timedelta(hours=5))
    undated = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    sooner = ask(net.nurse, book, to_role=CareRole.PHARMACIST, due_at=now + dt.timedelta(hours=1))
    done = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    _reply(api_as(net.pharmacist), done.pk)
    Request.objects.filter(pk=sooner.pk).update(due_at=now - dt.timedelta(minutes=5))
    with django_assert_max_num_queries(12):
        response = api_as(net.pharmacist).get("/api/v1/requests/mine/")
    rows = response.json()
    assert [r["id"] for r in rows] == [sooner.pk, later.pk, undated.pk]
    assert [r["overdue"] for r in rows] == [True, False, False]
    assert api_as(net.nurse).get("/api/v1/requests/mine/").json() == []


def test_the_home_page_lists_my_open_requests(net, book, client, ask):
    ask(net.nurse, book, "処方の調整をお願いします", to_role=CareRole.PHARMACIST)
    client.force_login(net.pharmacist)
    page = client.get("/")
    assert page.status_code == 200
    assert "処方の調整をお願いします" in page.content.decode()


def test_a_thread_lists_its_requests(net, book, api_as, ask):
    request = ask(net.nurse, book, to_role=CareRole.PHARMACIST)
    rows = api_as(net.secondary).get(f"/api/v1/threads/{book.pk}/requests/").json()
    assert [r["id"] for r in rows] == [request.pk]
    assert rows[0]["status"] == RequestStatus.OPEN
