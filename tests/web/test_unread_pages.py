"""Unread counts on the pages (issue 15, items 1, 2 and 9): home's 新着 card and the patients'
badges, the patient page's "新着 N件" divider, "すべて既読にする", the thread page of a topic
thread, and the composer's one choice of kind."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.urls import reverse

from messaging import services
from messaging.models import Message, MessageKind, Priority, ReadState, Thread
from messaging.services import contact_book_ensure
from messaging.web_selectors import home_unread
from patients.models import CareRole
from teams.models import User
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(net: Any) -> Thread:
    return contact_book_ensure(net.patient)


def _post(user: User, thread: Thread, body: str = "本日訪問しました。", **kw: Any) -> Message:
    return services.message_post(
        user, thread=thread.pk, client_id=uuid.uuid4(), body=body, **kw
    ).message


def _home(client: Any) -> str:
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return str(response.content.decode())


def test_home_lists_threads_with_unread_counts(net, client_as, book):
    _post(net.primary, book)
    _post(net.primary, book, "夜間の連絡先を確認してください。")
    body = _home(client_as(net.nurse))
    assert 'id="unread-card"' in body
    assert f'data-thread="{book.pk}"' in body
    assert "未読 2" in body
    assert f'data-unread-patient="{net.patient.pk}"' in body


def test_home_does_not_count_my_own_posts(net, client_as, book):
    _post(net.nurse, book)
    body = _home(client_as(net.nurse))
    assert f'data-thread="{book.pk}"' not in body.split('id="unread-row-template"')[0]
    assert "新着のメッセージはありません。" in body


def test_home_lists_urgent_threads_first(net, book):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="褥瘡ケア")
    _post(net.primary, topic, "仙骨部の発赤が広がっています。")
    _post(net.primary, book, "至急、訪問をお願いします。", kind=MessageKind.URGENT)
    _post(net.primary, topic, "写真を追加しました。")  # newer activity, but not urgent
    unread = home_unread(net.nurse, [net.patient.pk])
    assert [t.thread.pk for t in unread.threads] == [book.pk, topic.pk]
    assert (unread.threads[0].unread, unread.threads[0].unread_urgent) == (1, 1)
    assert unread.total == 3
    assert unread.per_patient[net.patient.pk].unread == 3
    assert unread.per_patient[net.patient.pk].urgent == 1


def test_home_unread_costs_one_query_for_many_threads(net, django_assert_num_queries):
    for n in range(4):
        patient = PatientFactory(name=f"追加 患者{n}", managing_organization=net.lead_clinic)
        ConsentFactory(patient=patient, recorded_by=net.primary)
        CareTeamMemberFactory(patient=patient, user=net.nurse, role=CareRole.VISITING_NURSE)
        CareTeamMemberFactory(patient=patient, user=net.primary, role=CareRole.PRIMARY_PHYSICIAN)
        _post(net.primary, contact_book_ensure(patient))
    # One query for the threads and their counts, one for the audit rows of those listed.
    with django_assert_num_queries(2):
        unread = home_unread(net.nurse, [])
    assert len(unread.threads) == 4


def test_home_puts_patients_with_urgent_unread_first(net, client_as, book):
    other = PatientFactory(
        name="青木 一郎", name_kana="あおき いちろう", managing_organization=net.lead_clinic
    )
    ConsentFactory(patient=other, recorded_by=net.primary)
    CareTeamMemberFactory(patient=other, user=net.nurse, role=CareRole.VISITING_NURSE)
    _post(net.primary, book, "至急", kind=MessageKind.URGENT)
    body = _home(client_as(net.nurse))
    patients = body[body.index('id="patient-list"') :]
    assert patients.index(net.patient.name) < patients.index(other.name)


def test_mark_all_read_moves_my_mark_to_the_last_message(net, client_as, book):
    _post(net.primary, book)
    last = _post(net.primary, book, "二通目")
    response = client_as(net.nurse).post(reverse("thread-read-all", args=[book.pk]), {"next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert ReadState.objects.get(user=net.nurse, thread=book).last_read_seq == last.seq


def test_mark_all_read_never_redirects_off_site(net, client_as, book):
    response = client_as(net.nurse).post(
        reverse("thread-read-all", args=[book.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_mark_all_read_of_an_outsider_is_404(net, client_as, book):
    response = client_as(net.outsider).post(reverse("thread-read-all", args=[book.pk]))
    assert response.status_code == 404


def test_patient_page_shows_the_new_divider_before_the_first_unread(net, client_as, book):
    _post(net.primary, book, "既読の連絡")
    services.thread_mark_read(net.nurse, thread=book, seq=1)
    first = _post(net.primary, book, "未読の一通目")
    _post(net.primary, book, "未読の二通目")
    response = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk]))
    body = response.content.decode()
    assert "新着 2件" in body
    divider = body.index('id="thread-new"')
    assert body.index('id="msg-1"') < divider < body.index(f'id="msg-{first.seq}"')


def test_patient_page_has_no_divider_when_all_is_read(net, client_as, book):
    _post(net.nurse, book)
    body = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    assert b'id="thread-new"' not in body


def test_patient_page_has_tabs_and_the_thread_before_the_record(net, client_as, book):
    body = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    text = body.decode()
    for label in ("連絡帳", "記録", "チーム", "希望"):
        assert f">{label}<" in text or f">{label}<span" in text
    assert text.index('id="pane-thread"') < text.index('id="pane-record"')


def test_composer_offers_one_choice_of_kind_with_hints(net, client_as, book):
    text = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    body = text.decode()
    # The composer's form (the requests panel above it asks a request's priority: not this).
    composer = body[body.index('id="thread-composer"') :]
    composer = composer[: composer.index("</form>")]
    assert 'name="priority"' not in composer
    assert 'data-hint="すぐ対応が必要: 主治医に緊急で知らせます"' in body


def test_a_post_of_kind_urgent_without_priority_is_urgent(net, client_as, book):
    client = client_as(net.nurse)
    response = client.post(
        reverse("thread-post", args=[book.pk]),
        {"body": "SpO2 88%", "kind": "urgent", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    message = Message.objects.get(thread=book, body="SpO2 88%")
    assert message.priority == Priority.URGENT


def test_topic_thread_has_its_own_page(net, client_as):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="退院調整")
    _post(net.primary, topic, "退院前カンファレンスの日程です。")
    response = client_as(net.nurse).get(reverse("thread-page", args=[topic.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<h2 id="thread-title">退院調整</h2>' in body
    assert "退院前カンファレンスの日程です。" in body


def test_topic_thread_page_of_an_outsider_is_404(net, client_as):
    topic = services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="退院調整")
    assert client_as(net.outsider).get(reverse("thread-page", args=[topic.pk])).status_code == 404


def test_contact_book_thread_page_links_to_the_patient_page(net, client_as, book):
    response = client_as(net.nurse).get(reverse("thread-page", args=[book.pk]))
    assert response.status_code == 200
    assert f'href="/patients/{net.patient.pk}/"' in response.content.decode()


def test_read_list_names_readers_with_organization_and_the_members_who_have_not(
    net, client_as, book
):
    message = _post(net.primary, book, "夕方に訪問します。")
    services.thread_mark_read(net.nurse, thread=book, seq=message.seq)
    response = client_as(net.primary).get(
        reverse("message-readers-page", args=[book.pk, message.seq])
    )
    assert response.status_code == 200
    body = response.content.decode()
    readers = body[
        body.index('class="people-list readers"') : body.index('class="people-list unread"')
    ]
    waiting = body[body.index('class="people-list unread"') :]
    assert str(net.nurse) in readers
    assert "までに既読" in readers
    assert str(net.pharmacist) in waiting
    assert str(net.primary) not in readers + waiting.split("</ul>")[0]  # the author is not listed


def test_read_list_of_an_outsider_is_404(net, client_as, book):
    message = _post(net.primary, book)
    url = reverse("message-readers-page", args=[book.pk, message.seq])
    assert client_as(net.outsider).get(url).status_code == 404


def test_read_list_of_a_missing_message_is_404(net, client_as, book):
    url = reverse("message-readers-page", args=[book.pk, 99])
    assert client_as(net.nurse).get(url).status_code == 404


def test_history_shows_the_texts_before_each_edit(net, client_as, book):
    message = _post(net.primary, book, "最初の本文")
    services.message_edit(net.primary, thread=book, seq=message.seq, body="直した本文")
    response = client_as(net.nurse).get(
        reverse("message-history-page", args=[book.pk, message.seq])
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("最初の本文") < body.index("直した本文")


def test_history_of_a_deleted_message_is_404(net, client_as, book):
    message = _post(net.primary, book, "消す本文")
    services.message_delete(net.primary, thread=book, seq=message.seq)
    url = reverse("message-history-page", args=[book.pk, message.seq])
    assert client_as(net.nurse).get(url).status_code == 404


def test_a_reply_quotes_the_message_it_answers(net, client_as, book):
    asked = _post(net.primary, book, "今朝の血圧を教えてください")
    _post(net.nurse, book, "132/80 でした", reply_to_seq=asked.seq)
    body = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    text = body.decode()
    assert f'href="#msg-{asked.seq}" data-reply-to="{asked.seq}"' in text
    assert "山田 太郎: 今朝の血圧を教えてください" in text or ": 今朝の血圧を教えてください" in text


def test_only_my_messages_offer_edit_and_delete(net, client_as, book):
    _post(net.primary, book, "医師の連絡")
    _post(net.nurse, book, "看護師の連絡")
    text = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    body = text.decode()
    theirs = body[body.index('id="msg-1"') : body.index('id="msg-2"')]
    mine = body[body.index('id="msg-2"') :].split("</li>")[0]
    assert 'data-action="reply"' in theirs
    assert 'data-action="edit"' not in theirs
    assert 'data-action="edit"' in mine
    assert 'data-action="delete"' in mine


def test_search_page_finds_hiragana_from_katakana_with_the_hit_marked(net, client_as, book):
    _post(net.nurse, book, "両足のむくみが強い")
    response = client_as(net.primary).get(reverse("search-page"), {"q": "ムクミ"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "両足の<mark>むくみ</mark>が強い" in body
    assert f"/patients/{net.patient.pk}/#msg-1" in body


def test_search_page_shows_nothing_of_threads_i_cannot_see(net, client_as, book):
    _post(net.nurse, book, "両足のむくみが強い")
    body = client_as(net.outsider).get(reverse("search-page"), {"q": "むくみ"}).content.decode()
    assert "両足の" not in body
    assert "0件見つかりました" in body


def test_search_page_lists_newest_first(net, client_as, book):
    _post(net.nurse, book, "むくみ 一回目")
    _post(net.nurse, book, "むくみ 二回目")
    body = client_as(net.primary).get(reverse("search-page"), {"q": "むくみ"}).content.decode()
    assert body.index("二回目") < body.index("一回目")


def test_search_page_without_a_query_shows_only_the_box(net, client_as):
    response = client_as(net.nurse).get(reverse("search-page"))
    assert response.status_code == 200
    assert 'id="search-hits"' not in response.content.decode()


def test_the_composer_offers_the_threads_members_with_kana_and_roles(net, client_as, book):
    body = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    match = re.search(rb'<script id="thread-data" type="application/json">(.*?)</script>', body)
    assert match
    members = {m["username"]: m for m in json.loads(match.group(1))["members"]}
    assert net.nurse.username not in members  # not myself
    assert net.outsider.username not in members  # only the thread's members
    primary = members[net.primary.username]
    assert primary["name"] == str(net.primary)
    assert "主治医" in primary["roles"]
    assert primary["kana"] == net.primary.name_kana


def test_a_mention_is_shown_by_name_and_kept_by_person(net, client_as, book):
    message = _post(net.nurse, book, f"@{net.primary.username} ご確認ください")
    assert list(message.mentions.all()) == [net.primary]
    body = client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content
    assert f"@{net.primary}</mark> ご確認ください".encode() in body
