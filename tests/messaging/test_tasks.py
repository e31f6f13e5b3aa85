"""The Celery task stays thin and can run twice."""

from __future__ import annotations

import pytest

from messaging import services
from messaging.tasks import notify_message

pytestmark = pytest.mark.django_db


def test_notify_message_is_idempotent(net, book, post):
    message = post(net.nurse, book)
    assert notify_message(message.pk) is True
    assert notify_message(message.pk) is True


def test_notify_message_skips_deleted_and_missing_messages(net, book, post):
    message = post(net.nurse, book)
    services.message_delete(net.nurse, thread=book.pk, seq=message.seq)
    assert notify_message(message.pk) is False
    assert notify_message(999_999) is False


def test_post_queues_notify_only_after_commit(net, book, post, queued_tasks, on_commit):
    with on_commit():
        message = post(net.nurse, book, "血圧が高めです", priority="important")
        assert queued_tasks.notify == []
    assert queued_tasks.notify == [message.pk]


@pytest.mark.parametrize(
    ("body", "extra", "notified"),
    [
        ("本日訪問しました。", {}, False),
        ("@primary 確認をお願いします", {}, True),
        ("血圧が高めです", {"priority": "important"}, True),
        ("呼吸苦あり", {"kind": "urgent"}, True),
    ],
)
def test_only_important_urgent_or_mentioning_posts_are_notified(
    net, book, post, queued_tasks, on_commit, body, extra, notified
):
    with on_commit():
        message = post(net.nurse, book, body, **extra)
    assert queued_tasks.notify == ([message.pk] if notified else [])
