"""Editing keeps history, deleting leaves a tombstone; only the author may do either."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from messaging.models import MessageRevision

pytestmark = pytest.mark.django_db


def detail(thread, seq):
    return reverse("messaging:message-detail", kwargs={"thread_id": thread.pk, "seq": seq})


def test_author_edits_and_the_old_text_is_kept(api_as, net, book, post):
    post(net.nurse, book, "体温 37.8")
    res = api_as(net.nurse).patch(detail(book, 1), {"body": "体温 38.7"}, format="json")
    assert res.status_code == 200
    assert res.json()["body"] == "体温 38.7"
    assert res.json()["edited_at"] is not None
    assert list(MessageRevision.objects.values_list("body", flat=True)) == ["体温 37.8"]
    history = api_as(net.primary).get(
        reverse("messaging:message-revisions", kwargs={"thread_id": book.pk, "seq": 1})
    )
    assert [r["body"] for r in history.json()["results"]] == ["体温 37.8"]
    assert AuditEvent.objects.filter(action="update", patient_id=net.patient.pk).exists()


def test_edit_updates_mentions(net, book, post, api_as):
    message = post(net.nurse, book, "@primary 確認を")
    api_as(net.nurse).patch(detail(book, 1), {"body": "@secondary 確認を"}, format="json")
    assert list(message.mentions.all()) == [net.secondary]


def test_someone_else_cannot_edit_or_delete(api_as, net, book, post):
    post(net.nurse, book, "本文")
    client = api_as(net.primary)
    assert client.patch(detail(book, 1), {"body": "改ざん"}, format="json").status_code == 403
    assert client.delete(detail(book, 1)).status_code == 403
    assert MessageRevision.objects.count() == 0


def test_outsider_editing_gets_404(api_as, net, book, post):
    post(net.nurse, book, "本文")
    res = api_as(net.outsider).patch(detail(book, 1), {"body": "x"}, format="json")
    assert res.status_code == 404


def test_unknown_seq_is_404(api_as, net, book):
    assert api_as(net.nurse).patch(detail(book, 5), {"body": "x"}, format="json").status_code == 404
    assert api_as(net.nurse).get(detail(book, "abc")).status_code == 404


def test_delete_leaves_a_tombstone_without_the_body(api_as, net, book, post):
    post(net.nurse, book, "誤送信")
    post(net.nurse, book, "次")
    res = api_as(net.nurse).delete(detail(book, 1))
    assert res.status_code == 200
    assert (res.json()["deleted"], res.json()["body"]) == (True, "")
    page = api_as(net.primary).get(
        reverse("messaging:thread-messages", kwargs={"thread_id": book.pk})
    )
    tomb = next(m for m in page.json()["results"] if m["seq"] == 1)
    assert (tomb["deleted"], tomb["body"], tomb["mentions"]) == (True, "", [])
    assert AuditEvent.objects.filter(action="delete", patient_id=net.patient.pk).exists()


def test_deleted_message_cannot_be_edited(api_as, net, book, post):
    post(net.nurse, book, "誤送信")
    client = api_as(net.nurse)
    client.delete(detail(book, 1))
    assert client.patch(detail(book, 1), {"body": "x"}, format="json").status_code == 400


def test_edit_and_delete_send_events_to_the_team(net, book, post, api_as, sent_events, on_commit):
    post(net.nurse, book, "a")
    client = api_as(net.nurse)
    with on_commit():
        client.patch(detail(book, 1), {"body": "b"}, format="json")
        client.delete(detail(book, 1))
    assert [s.event["type"] for s in sent_events] == ["message.edited", "message.deleted"]
    assert sent_events[0].event["message"]["body"] == "b"
    assert sent_events[1].event["message"]["body"] == ""
    assert all(s.event["seq"] == 1 and s.event["thread"] == book.pk for s in sent_events)
