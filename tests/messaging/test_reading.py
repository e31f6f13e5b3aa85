"""Reading: cursor pages, the thread list, sync, read marks and who read what (既読)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from messaging import services
from patients.models import CareRole, CareTeamMember
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def messages_url(thread):
    return reverse("messaging:thread-messages", kwargs={"thread_id": thread.pk})


def seqs(res):
    return [m["seq"] for m in res.json()["results"]]


@pytest.fixture
def ten(net, book, post):
    for i in range(10):
        post(net.primary if i % 2 else net.nurse, book, f"メッセージ{i + 1}")
    return book


def test_latest_page_is_newest_first(api_as, net, ten):
    res = api_as(net.pharmacist).get(messages_url(ten), {"limit": 3})
    assert seqs(res) == [10, 9, 8]
    assert res.json()["has_more"] is True
    assert res.json()["last_seq"] == 10


def test_before_pages_backwards(api_as, net, ten):
    res = api_as(net.pharmacist).get(messages_url(ten), {"before": 3})
    assert seqs(res) == [2, 1]
    assert res.json()["has_more"] is False


def test_after_pages_forwards_in_order(api_as, net, ten):
    res = api_as(net.pharmacist).get(messages_url(ten), {"after": 6, "limit": 3})
    assert seqs(res) == [7, 8, 9]
    assert res.json()["has_more"] is True


def test_page_size_defaults_to_50_and_is_capped_at_200(api_as, net, book, post):
    for _ in range(55):
        post(net.nurse, book)
    client = api_as(net.primary)
    assert len(seqs(client.get(messages_url(book)))) == 50
    res = client.get(messages_url(book), {"limit": 201})
    assert res.status_code == 400
    assert "limit" in res.json()["error"]["fields"]


def test_after_and_before_together_is_400(api_as, net, ten):
    res = api_as(net.nurse).get(messages_url(ten), {"after": 1, "before": 5})
    assert res.status_code == 400


def test_reading_messages_is_audited(api_as, net, ten):
    api_as(net.pharmacist).get(messages_url(ten))
    assert AuditEvent.objects.filter(
        actor=net.pharmacist, action="read", patient_id=net.patient.pk
    ).exists()


def test_page_query_count_does_not_grow_with_messages(
    api_as, net, book, post, django_assert_num_queries
):
    client = api_as(net.pharmacist)
    post(net.nurse, book, "@primary 1")
    # thread gate, the page (mentions and read counts included), audit row
    with django_assert_num_queries(3):
        client.get(messages_url(book))
    for i in range(20):
        post(net.nurse, book, f"@primary {i}")
    with django_assert_num_queries(3):
        client.get(messages_url(book))


def test_mark_read_never_moves_backwards(api_as, net, ten):
    client = api_as(net.pharmacist)
    read_url = reverse("messaging:thread-read", kwargs={"thread_id": ten.pk})
    assert client.post(read_url, {"seq": 7}, format="json").json()["last_read_seq"] == 7
    assert client.post(read_url, {"seq": 3}, format="json").json()["last_read_seq"] == 7
    assert client.post(read_url, {"seq": 99}, format="json").json()["last_read_seq"] == 10


def test_mark_read_with_bad_seq_is_400(api_as, net, ten):
    read_url = reverse("messaging:thread-read", kwargs={"thread_id": ten.pk})
    assert api_as(net.nurse).post(read_url, {"seq": -1}, format="json").status_code == 400
    assert api_as(net.nurse).post(read_url, {"seq": "x"}, format="json").status_code == 400


def test_mark_read_sends_read_updated_to_the_team(api_as, net, ten, sent_events, on_commit):
    read_url = reverse("messaging:thread-read", kwargs={"thread_id": ten.pk})
    with on_commit():
        api_as(net.pharmacist).post(read_url, {"seq": 4}, format="json")
        api_as(net.pharmacist).post(read_url, {"seq": 2}, format="json")
    assert len(sent_events) == 1
    event = sent_events[0].event
    assert (event["type"], event["thread"], event["seq"]) == ("read.updated", ten.pk, 4)
    assert event["user"]["id"] == net.pharmacist.pk


def test_read_by_counts_readers_other_than_the_author(api_as, net, book, post):
    post(net.nurse, book, "一件目")
    services.thread_mark_read(net.primary, thread=book.pk, seq=1)
    services.thread_mark_read(net.pharmacist, thread=book.pk, seq=1)
    res = api_as(net.nurse).get(messages_url(book))
    assert res.json()["results"][0]["read_by"] == 2
    readers = api_as(net.nurse).get(
        reverse("messaging:message-readers", kwargs={"thread_id": book.pk, "seq": 1})
    )
    assert readers.json()["count"] == 2
    assert {r["user"]["id"] for r in readers.json()["results"]} == {
        net.primary.pk,
        net.pharmacist.pk,
    }


def test_readers_of_a_thread_are_hidden_from_outsiders(api_as, net, book, post):
    post(net.nurse, book)
    res = api_as(net.outsider).get(
        reverse("messaging:message-readers", kwargs={"thread_id": book.pk, "seq": 1})
    )
    assert res.status_code == 404


# --- the thread list ----------------------------------------------------------------------


def test_thread_list_shows_unread_last_message_and_patient(api_as, net, book, post):
    post(net.nurse, book, "一")
    post(net.nurse, book, "二")
    post(net.pharmacist, book, "三")
    services.message_delete(net.pharmacist, thread=book.pk, seq=3)
    res = api_as(net.primary).get(reverse("messaging:thread-list"))
    assert res.status_code == 200
    [item] = res.json()["results"]
    assert item["patient"] == {"id": net.patient.pk, "name": "小林 ハル"}
    assert item["unread"] == 2  # the deleted one does not count
    assert item["last_read_seq"] == 0
    assert item["last_message"]["seq"] == 3
    mine = api_as(net.nurse).get(reverse("messaging:thread-list")).json()["results"][0]
    assert (mine["unread"], mine["last_read_seq"]) == (0, 2)


def _patients_for(user, n):
    for i in range(n):
        patient = PatientFactory()
        ConsentFactory(patient=patient)
        CareTeamMemberFactory(patient=patient, user=user, role=CareRole.VISITING_NURSE)
        thread = services.contact_book_ensure(patient)
        services.message_post(
            user,
            thread=thread.pk,
            client_id=f"00000000-0000-0000-0000-{i:012d}",
            body=f"訪問{i}",
        )


@pytest.mark.parametrize("n", [1, 20])
def test_thread_list_runs_a_constant_number_of_queries(api_as, net, n, django_assert_num_queries):
    _patients_for(net.nurse, n)
    client = api_as(net.nurse)
    # count, page, last messages, their mentions, read states, audit rows
    with django_assert_num_queries(6):
        res = client.get(reverse("messaging:thread-list"))
    assert res.json()["count"] == n


def test_thread_list_leaves_out_patients_no_longer_on_my_team(api_as, net, book):
    CareTeamMember.objects.filter(user=net.nurse).update(
        end_date=timezone.localdate() - dt.timedelta(days=1)
    )
    assert api_as(net.nurse).get(reverse("messaging:thread-list")).json()["count"] == 0


# --- sync ---------------------------------------------------------------------------------


def test_sync_returns_what_was_missed_in_named_threads(api_as, net, book, post):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="服薬")
    for i in range(5):
        post(net.primary, book, f"b{i}")
    post(net.primary, topic, "t0")
    res = api_as(net.nurse).post(
        reverse("messaging:sync"), {"threads": {str(book.pk): 3}}, format="json"
    )
    assert res.status_code == 200
    threads = res.json()["threads"]
    named = threads[str(book.pk)]
    assert [m["seq"] for m in named["messages"]] == [4, 5]
    assert (named["has_more"], named["last_seq"], named["unread"]) == (False, 5, 5)
    other = threads[str(topic.pk)]
    assert "messages" not in other
    assert (other["last_seq"], other["unread"]) == (1, 1)
    assert other["thread"]["title"] == "服薬"


def test_sync_shows_messages_as_the_history_page_does(api_as, net, book, post):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="服薬")
    post(net.primary, book, "一件目")
    post(net.nurse, book, f"@{net.primary.username} 確認お願いします", reply_to_seq=1)
    post(net.primary, book, "了解")
    post(net.primary, topic, "服薬の変更")
    services.thread_mark_read(net.nurse, thread=book.pk, seq=3)
    client = api_as(net.nurse)
    res = client.post(
        reverse("messaging:sync"),
        {"threads": {str(book.pk): 0, str(topic.pk): 0}},
        format="json",
    )
    threads = res.json()["threads"]
    for thread in (book, topic):
        page = client.get(reverse("messaging:thread-messages", args=[thread.pk]), {"after": 0})
        assert threads[str(thread.pk)]["messages"] == page.json()["results"]
    first, second, _ = threads[str(book.pk)]["messages"]
    assert [u["username"] for u in second["mentions"]] == [net.primary.username]
    assert second["reply_to"] == 1
    assert first["read_by"] == 1  # the nurse; the author's own mark does not count


def test_sync_caps_each_thread_and_says_there_is_more(net, book, post):
    from messaging.selectors import sync

    for _ in range(7):
        post(net.primary, book)
    result = sync(net.nurse, {book.pk: 0}, limit=5)
    [item] = result.threads
    assert [m.seq for m in item.messages] == [1, 2, 3, 4, 5]
    assert item.has_more is True


def test_sync_lists_threads_i_may_no_longer_see_as_removed(api_as, net, book):
    res = api_as(net.outsider).post(
        reverse("messaging:sync"), {"threads": {str(book.pk): 0, "999999": 0}}, format="json"
    )
    assert res.json() == {"threads": {}, "removed": sorted([book.pk, 999999])}


def test_sync_with_bad_thread_ids_is_400(api_as, net):
    res = api_as(net.nurse).post(reverse("messaging:sync"), {"threads": {"abc": 1}}, format="json")
    assert res.status_code == 400
    res = api_as(net.nurse).post(reverse("messaging:sync"), {"threads": {"1": -1}}, format="json")
    assert res.status_code == 400


def test_sync_query_count_is_constant(api_as, net, book, post, django_assert_num_queries):
    client = api_as(net.nurse)
    post(net.primary, book)
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="服薬")
    post(net.primary, topic)
    body = {"threads": {str(book.pk): 0, str(topic.pk): 0}}
    # threads; messages with their mentions and read counts; audit rows
    with django_assert_num_queries(3):
        client.post(reverse("messaging:sync"), body, format="json")
