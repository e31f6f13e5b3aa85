"""The contact-book thread on the patient page, and its pages for browsers without JavaScript."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from messaging import services
from messaging.models import Message, ReadState, Thread
from messaging.services import contact_book_ensure
from messaging.web_selectors import PAGE_SIZE, thread_page
from teams.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(net: Any) -> Thread:
    return contact_book_ensure(net.patient)


def _post(user: User, thread: Thread, body: str = "本日訪問しました。", **kw: Any) -> Message:
    return services.message_post(
        user, thread=thread.pk, client_id=uuid.uuid4(), body=body, **kw
    ).message


def _page(client: Any, net: Any) -> str:
    response = client.get(reverse("patient-detail", args=[net.patient.pk]))
    assert response.status_code == 200
    return str(response.content.decode())


def _thread_data(body: str) -> dict[str, Any]:
    match = re.search(r'<script id="thread-data" type="application/json">(.*?)</script>', body)
    assert match, "no thread-data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_patient_page_shows_the_contact_book_with_composer_and_script(net, client_as, book):
    body = _page(client_as(net.nurse), net)
    assert 'id="thread-card"' in body
    assert 'aria-live="polite"' in body
    assert '<label for="thread-body">メッセージ</label>' in body
    assert '<label for="thread-kind">これは何の連絡ですか</label>' in body
    # One choice: the priority follows from the kind (an urgent message is urgent).
    assert 'id="thread-priority"' not in body
    assert "/static/messaging/thread.js" in body
    assert "/static/messaging/thread.css" in body
    assert "まだメッセージはありません。" in body
    data = _thread_data(body)
    assert data["thread"] == book.pk
    assert data["me"] == net.nurse.pk
    assert data["urls"]["messages"] == f"/api/v1/threads/{book.pk}/messages/"
    assert data["urls"]["read"] == f"/api/v1/threads/{book.pk}/read/"


def test_a_patient_made_without_a_contact_book_gets_one_when_the_page_opens(net, client_as):
    Thread.objects.filter(patient=net.patient).delete()
    body = _page(client_as(net.nurse), net)
    thread = Thread.objects.get(patient=net.patient, kind="contact_book")
    assert _thread_data(body)["thread"] == thread.pk


def test_messages_render_with_author_organization_badges_time_and_line_breaks(net, client_as, book):
    _post(
        net.primary,
        book,
        "血圧 128/76\n@nurse 明日の訪問で確認を",
        kind="vitals",
        priority="important",
    )
    body = _page(client_as(net.nurse), net)
    assert "山田 太郎" in body
    assert '<span class="msg-org">みどり在宅クリニック</span>' in body
    assert 'kind-vitals">バイタル</span>' in body
    assert 'prio-important">重要</span>' in body
    # Japanese date and time in Asia/Tokyo; the line break is kept as typed (pre-wrap).
    local = timezone.localtime(Message.objects.get(thread=book).created_at)
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" in body
    # The text keeps the login name; the page shows the person's name.
    mention = f'<mark class="mention" data-username="nurse">@{net.nurse}</mark>'
    assert f'<p class="msg-body">血圧 128/76\n{mention} 明日の訪問で確認を</p>' in body


def test_only_resolved_mentions_are_highlighted_and_text_is_escaped(net, client_as, book):
    _post(net.primary, book, "<b>注意</b> mail: taro@example.jp @secondary")
    body = _page(client_as(net.nurse), net)
    assert "&lt;b&gt;注意&lt;/b&gt; mail: taro@example.jp " in body
    assert f'<mark class="mention" data-username="secondary">@{net.secondary}</mark>' in body
    assert "<b>注意</b>" not in body


def test_a_deleted_message_is_a_tombstone_in_its_place(net, client_as, book):
    first = _post(net.primary, book, "削除する本文")
    _post(net.primary, book, "残る本文")
    services.message_delete(net.primary, thread=book.pk, seq=first.seq)
    body = _page(client_as(net.nurse), net)
    assert "削除する本文" not in body
    assert "このメッセージは削除されました。" in body
    assert body.index('id="msg-1"') < body.index('id="msg-2"')


def test_read_count_counts_readers_other_than_the_author(net, client_as, book):
    message = _post(net.primary, book)
    services.thread_mark_read(net.pharmacist, thread=book.pk, seq=message.seq)
    body = _page(client_as(net.nurse), net)
    # 既読 N is a button now: it opens the read list.
    assert (
        '<button type="button" class="msg-read link-button" data-action="readers">既読 1</button>'
        in body
    )
    marks = _thread_data(body)["readMarks"]
    assert marks == {str(net.primary.pk): 1, str(net.pharmacist.pk): 1}


def test_the_page_shows_the_newest_fifty_and_links_to_older_ones(net, client_as, book):
    for i in range(PAGE_SIZE + 2):
        _post(net.primary, book, f"記録{i + 1}番")
    body = _page(client_as(net.nurse), net)
    assert 'id="msg-3"' in body
    assert 'id="msg-2"' not in body
    assert f'href="/threads/{book.pk}/older/?before=3"' in body
    older = client_as(net.nurse).get(reverse("thread-older", args=[book.pk]) + "?before=3")
    assert older.status_code == 200
    text = older.content.decode()
    assert "記録1番" in text
    assert "記録2番" in text
    assert "記録3番" not in text


def test_older_page_costs_the_same_queries_for_few_or_many_messages(
    net, client_as, book, django_assert_num_queries
):
    client = client_as(net.nurse)
    url = reverse("thread-older", args=[book.pk])
    _post(net.primary, book)
    client.get(url)  # warm the session and the caches
    # session, user, gate, messages, mentions, read marks, team places, audit row, and the
    # audit context, and the header bell's unread count: the same whatever the number of
    # messages.
    with django_assert_num_queries(10) as few:
        client.get(url)
    for _ in range(10):
        _post(net.secondary, book, "@nurse 了解です")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(url)


def test_older_page_is_audited_as_a_read_of_the_thread(net, client_as, book):
    client_as(net.nurse).get(reverse("thread-older", args=[book.pk]))
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk,
        action=AuditAction.READ,
        patient_id=net.patient.pk,
        object_type="messaging.thread",
    ).exists()


@pytest.mark.parametrize("name", ["outsider", "stranger"])
def test_thread_pages_are_not_found_for_people_off_the_team(net, client_as, book, name):
    client = client_as(getattr(net, name))
    assert client.get(reverse("thread-older", args=[book.pk])).status_code == 404
    response = client.post(
        reverse("thread-post", args=[book.pk]),
        {"body": "見えないはず", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 404
    assert not Message.objects.filter(thread=book).exists()


def test_garbage_before_gives_not_found(net, client_as, book):
    client = client_as(net.nurse)
    assert client.get(reverse("thread-older", args=[book.pk]) + "?before=x").status_code == 404


def test_posting_without_javascript_saves_once_and_returns_to_the_thread(net, client_as, book):
    client = client_as(net.nurse)
    key = str(uuid.uuid4())
    form = {"body": "夕方に再訪します", "kind": "handover", "priority": "", "client_id": key}
    for _ in range(2):  # a double tap on "送信" posts the same form twice
        response = client.post(reverse("thread-post", args=[book.pk]), form)
        assert response.status_code == 302
        assert response["Location"] == reverse("patient-detail", args=[net.patient.pk]) + "#thread"
    message = Message.objects.get(thread=book)
    assert (message.body, message.kind, message.author_id) == (
        "夕方に再訪します",
        "handover",
        net.nurse.pk,
    )
    assert ReadState.objects.get(thread=book, user=net.nurse).last_read_seq == 1


def test_a_refused_post_without_javascript_keeps_the_text_and_shows_why(net, client_as, book):
    client = client_as(net.nurse)
    response = client.post(
        reverse("thread-post", args=[book.pk]),
        {"body": "あ" * 10_001, "kind": "note", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "本文が長すぎます。" in text
    assert "10,000文字以内で入力してください。" in text
    assert "あ" * 10_001 in text
    assert not Message.objects.filter(thread=book).exists()


def test_thread_pages_ask_an_anonymous_visitor_to_log_in(client, net, book):
    response = client.get(reverse("thread-older", args=[book.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_thread_page_selector_lists_oldest_first_with_has_older(net, book):
    for i in range(3):
        _post(net.primary, book, f"{i}")
    page = thread_page(net.nurse, book, limit=2)
    assert [m.seq for m in page.messages] == [2, 3]
    assert page.has_older is True
    assert page.oldest_seq == 2
    assert page.client["lastSeq"] == 3


def test_english_page_translates_the_thread(net, client_as, book):
    client = client_as(net.nurse)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    _post(net.primary, book)
    body = _page(client, net)
    assert '<h2 id="thread-title">Contact book</h2>' in body
    assert 'data-str-pending="Waiting to send"' in body
    assert 'data-str-read="Read by {n}"' in body
    assert 'data-time-format="Y-m-d H:i"' in body
    assert "送信待ち" not in body
