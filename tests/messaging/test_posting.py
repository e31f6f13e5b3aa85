"""Posting: gap-free seqs, idempotent retries, mentions, replies, bad input, audit, events."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from config.errors import NotFound
from messaging import services
from messaging.mentions import parse_mentions
from messaging.models import Message, ReadState, Thread
from messaging.services import message_post
from patients.models import Consent
from tests.factories import CareTeamMemberFactory

pytestmark = pytest.mark.django_db


def url(thread):
    return reverse("messaging:thread-messages", kwargs={"thread_id": thread.pk})


def test_post_creates_the_message_with_the_next_seq(api_as, net, book):
    client = api_as(net.nurse)
    cid = str(uuid.uuid4())
    res = client.post(url(book), {"client_id": cid, "body": "血圧 128/76\n脈拍 72"}, format="json")
    assert res.status_code == 201
    data = res.json()
    assert data["seq"] == 1
    assert data["body"] == "血圧 128/76\n脈拍 72"
    assert data["author"]["id"] == net.nurse.pk
    assert (data["kind"], data["priority"], data["read_by"]) == ("note", "routine", 0)
    res2 = client.post(url(book), {"client_id": str(uuid.uuid4()), "body": "追記"}, format="json")
    assert res2.json()["seq"] == 2
    book.refresh_from_db()
    assert book.last_seq == 2


def test_retry_with_the_same_client_id_returns_the_original_with_200(api_as, net, book):
    client = api_as(net.nurse)
    cid = str(uuid.uuid4())
    first = client.post(url(book), {"client_id": cid, "body": "訪問しました"}, format="json")
    retry = client.post(url(book), {"client_id": cid, "body": "訪問しました"}, format="json")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    assert Message.objects.count() == 1


def test_same_client_id_by_another_author_is_another_message(net, book, post):
    cid = uuid.uuid4()
    a = post(net.nurse, book, client_id=cid)
    b = post(net.primary, book, client_id=cid)
    assert a.pk != b.pk


def test_client_id_reused_on_another_thread_is_refused(api_as, net, book):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="服薬")
    client = api_as(net.nurse)
    cid = str(uuid.uuid4())
    client.post(url(book), {"client_id": cid, "body": "a"}, format="json")
    res = client.post(url(topic), {"client_id": cid, "body": "a"}, format="json")
    assert res.status_code == 400
    assert "client_id" in res.json()["error"]["fields"]


def test_retry_refused_by_the_unique_client_id_answers_with_the_original_and_keeps_seqs(
    net, book, post
):
    # No look-up precedes the insert: the unique (author, client_id) refuses the retry's row,
    # its transaction (and the seq it took) is rolled back, and the original is the answer.
    cid = uuid.uuid4()
    original = post(net.nurse, book, client_id=cid)
    result = message_post(net.nurse, thread=book.pk, client_id=cid, body="again")
    assert (result.created, result.message.pk, result.message.body) == (
        False,
        original.pk,
        original.body,
    )
    book.refresh_from_db()
    assert book.last_seq == 1
    assert post(net.nurse, book).seq == 2


def test_retry_whose_input_no_longer_passes_still_answers_with_the_original(net, book, post):
    cid = uuid.uuid4()
    original = post(net.nurse, book, client_id=cid)
    result = message_post(net.nurse, thread=book.pk, client_id=cid, body="  ")
    assert (result.created, result.message.pk) == (False, original.pk)


def test_failed_post_gives_its_seq_back_and_leaves_no_trace(net, book, post, monkeypatch):
    post(net.nurse, book)

    def broken(*args, **kwargs):
        raise RuntimeError("mentions down")

    # The mentions are written after the post's statement, in the same transaction.
    monkeypatch.setattr(Message.mentions.through.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        post(net.nurse, book, "@primary 確認をお願いします")
    monkeypatch.undo()
    third = post(net.nurse, book)
    assert third.seq == 2
    assert list(Message.objects.values_list("seq", flat=True)) == [1, 2]
    book.refresh_from_db()
    assert book.last_seq == 2
    assert AuditEvent.objects.filter(object_type="messaging.message").count() == 2
    assert ReadState.objects.get(user=net.nurse, thread=book).last_read_seq == 2


def test_a_post_writes_its_audit_row_and_the_authors_read_mark(net, book, post):
    message = post(net.nurse, book)
    row = AuditEvent.objects.get(object_type="messaging.message", object_id=str(message.pk))
    assert (row.actor_id, row.action, row.patient_id, row.detail) == (
        net.nurse.pk,
        "create",
        net.patient.pk,
        f"thread={book.pk} seq=1",
    )
    assert row.at == message.created_at
    assert ReadState.objects.get(user=net.nurse, thread=book).last_read_seq == 1
    book.refresh_from_db()
    assert (book.last_seq, book.last_message_at) == (1, message.created_at)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"client_id": "not-a-uuid", "body": "x"}, "client_id"),
        ({"body": "x"}, "client_id"),
        ({"client_id": "00000000-0000-0000-0000-000000000001", "body": ""}, "body"),
        ({"client_id": "00000000-0000-0000-0000-000000000001", "body": "   \n "}, "body"),
        ({"client_id": "00000000-0000-0000-0000-000000000001", "body": "あ" * 10_001}, "body"),
        ({"client_id": "00000000-0000-0000-0000-000000000001", "body": "a\x00b"}, "body"),
        ({"client_id": "00000000-0000-0000-0000-000000000001", "body": "x", "kind": "x"}, "kind"),
        (
            {"client_id": "00000000-0000-0000-0000-000000000001", "body": "x", "reply_to": 99},
            "reply_to",
        ),
    ],
)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(api_as, net, book, payload, field):
    res = api_as(net.nurse).post(url(book), payload, format="json")
    assert res.status_code == 400
    assert field in res.json()["error"]["fields"]
    assert Message.objects.count() == 0
    book.refresh_from_db()
    assert book.last_seq == 0


def test_body_of_exactly_ten_thousand_characters_is_accepted(api_as, net, book):
    body = "あ" * 10_000
    res = api_as(net.nurse).post(
        url(book), {"client_id": str(uuid.uuid4()), "body": body}, format="json"
    )
    assert res.status_code == 201


def test_unknown_thread_is_404(api_as, net):
    res = api_as(net.nurse).post(
        "/api/v1/threads/999999/messages/",
        {"client_id": str(uuid.uuid4()), "body": "x"},
        format="json",
    )
    assert res.status_code == 404
    assert res.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("persona", ["outsider", "coordinator", "stranger"])
def test_outsider_cannot_post_or_read(api_as, net, book, persona):
    client = api_as(getattr(net, persona))
    assert client.get(url(book)).status_code == 404
    res = client.post(url(book), {"client_id": str(uuid.uuid4()), "body": "x"}, format="json")
    assert res.status_code == 404
    assert Message.objects.count() == 0


def test_mentions_of_team_members_are_stored(net, book, post):
    message = post(net.nurse, book, "@primary 先生、@pharmacist さん確認お願いします。")
    assert set(message.mentions.all()) == {net.primary, net.pharmacist}


def test_mention_of_someone_off_the_team_is_400(api_as, net, book):
    res = api_as(net.nurse).post(
        url(book), {"client_id": str(uuid.uuid4()), "body": "@outsider 見て"}, format="json"
    )
    assert res.status_code == 400
    assert "@outsider" in res.json()["error"]["fields"]["body"][0]


def test_mention_parsing_skips_addresses_and_sentence_punctuation():
    assert parse_mentions("@nurse. mail taro@example.jp, @primary\n@nurse") == [
        "nurse",
        "primary",
    ]


def test_reply_to_a_message_of_the_same_thread(api_as, net, book, post):
    post(net.primary, book, "熱は?")
    res = api_as(net.nurse).post(
        url(book),
        {"client_id": str(uuid.uuid4()), "body": "37.2度です", "reply_to": 1},
        format="json",
    )
    assert res.status_code == 201
    assert res.json()["reply_to"] == 1


def test_urgent_kind_is_urgent_priority_by_default(net, book, post):
    assert post(net.nurse, book, "呼吸苦あり", kind="urgent").priority == "urgent"


def test_posting_marks_the_thread_read_for_the_author(net, book, post):
    post(net.primary, book)
    post(net.nurse, book)
    state = ReadState.objects.get(user=net.nurse, thread=book)
    assert state.last_read_seq == 2


def test_post_is_audited_with_the_patient(net, book, post):
    message = post(net.nurse, book)
    row = AuditEvent.objects.get(action="create", object_type="messaging.message")
    assert (row.actor_id, row.patient_id, row.object_id) == (
        net.nurse.pk,
        net.patient.pk,
        str(message.pk),
    )


def test_post_sends_message_new_to_the_current_team_after_commit(
    net, book, post, sent_events, queued_tasks, on_commit
):
    with on_commit():
        message = post(net.nurse, book)
        assert sent_events == []
    assert len(sent_events) == 1
    sent = sent_events[0]
    assert sent.user_ids == sorted(
        [net.primary.pk, net.secondary.pk, net.nurse.pk, net.pharmacist.pk]
    )
    assert sent.event["type"] == "message.new"
    assert (sent.event["thread"], sent.event["seq"]) == (book.pk, 1)
    assert sent.event["message"]["id"] == message.pk


def test_post_while_consent_is_withdrawn_sends_its_event_to_the_primary_only(
    net, book, post, sent_events, on_commit
):
    # The post statement reads the recipients itself; it must agree with the gate's rule.
    Consent.objects.filter(patient=net.patient).update(withdrawn_at=timezone.now())
    with on_commit():
        post(net.primary, book)
    assert [s.user_ids for s in sent_events] == [[net.primary.pk]]


def test_post_leaves_ended_places_out_of_its_event(net, book, post, sent_events, on_commit):
    CareTeamMemberFactory(patient=net.patient, user=net.outsider, ended=True)
    with on_commit():
        post(net.nurse, book)
    assert net.outsider.pk not in sent_events[0].user_ids
    assert net.nurse.pk in sent_events[0].user_ids


def test_post_over_unread_messages_also_sends_read_updated(net, book, post, sent_events, on_commit):
    post(net.primary, book)
    post(net.primary, book)
    with on_commit():
        post(net.nurse, book)
    assert [s.event["type"] for s in sent_events] == ["message.new", "read.updated"]
    assert sent_events[1].event["seq"] == 3


def test_retry_sends_no_second_event(net, book, sent_events, on_commit):
    cid = uuid.uuid4()
    with on_commit():
        message_post(net.nurse, thread=book.pk, client_id=cid, body="x")
        message_post(net.nurse, thread=book.pk, client_id=cid, body="x")
    assert len(sent_events) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_make_one_row_and_answer_with_one_id(api_as, net):
    from rest_framework.test import APIClient

    book = services.contact_book_ensure(net.patient)
    cid = str(uuid.uuid4())
    n = 8
    barrier = threading.Barrier(n)
    answers: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def attempt():
        try:
            client = APIClient()
            client.force_authenticate(net.nurse)
            barrier.wait()
            res = client.post(url(book), {"client_id": cid, "body": "同時送信"}, format="json")
            answers.append((res.status_code, res.json()["id"]))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=attempt) for _ in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert Message.objects.count() == 1
    assert sorted(code for code, _ in answers) == [200] * (n - 1) + [201]
    assert len({mid for _, mid in answers}) == 1
    assert Thread.objects.get(pk=book.pk).last_seq == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_gap_free_seqs(net):
    book = services.contact_book_ensure(net.patient)
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    users = [net.primary, net.secondary, net.nurse, net.pharmacist] * 2

    def attempt(user):
        try:
            barrier.wait()
            message_post(user, thread=book.pk, client_id=uuid.uuid4(), body="x")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sorted(Message.objects.values_list("seq", flat=True)) == list(range(1, n + 1))


@pytest.mark.django_db(transaction=True)
def test_a_post_over_the_api_costs_two_queries(api_as, net, django_assert_num_queries):
    # The gate, and the post itself: one statement, its own transaction, which also reads who
    # receives the live event.
    book = services.contact_book_ensure(net.patient)
    client = api_as(net.nurse)
    url = reverse("messaging:thread-messages", kwargs={"thread_id": book.pk})
    with django_assert_num_queries(2):
        answer = client.post(url, {"client_id": str(uuid.uuid4()), "body": "訪問済"}, format="json")
    assert answer.status_code == 201


def test_a_plain_post_by_thread_id_is_one_query(net, book, django_assert_num_queries):
    # The socket's way: the gate runs inside the post statement.
    with django_assert_num_queries(1):
        message_post(net.nurse, thread=book.pk, client_id=uuid.uuid4(), body="訪問済")
    assert Message.objects.get().seq == 1


@pytest.mark.parametrize("persona", ["outsider", "coordinator", "stranger"])
def test_a_plain_post_by_someone_off_the_team_is_not_found_and_writes_nothing(net, book, persona):
    with pytest.raises(NotFound):
        message_post(getattr(net, persona), thread=book.pk, client_id=uuid.uuid4(), body="x")
    assert not Message.objects.exists()
    assert not AuditEvent.objects.filter(object_type="messaging.message").exists()
    book.refresh_from_db()
    assert book.last_seq == 0


def test_bad_input_from_someone_off_the_team_is_not_found_not_field_errors(net, book):
    with pytest.raises(NotFound):
        message_post(net.outsider, thread=book.pk, client_id=uuid.uuid4(), body="")
