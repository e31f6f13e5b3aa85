"""The Celery task stays thin and can run twice."""

from __future__ import annotations

import pytest

from messaging import services
from messaging.tasks import notify_message

pytestmark = pytest.mark.django_db


def test_notify_message_is_idempotent(net, book, post):
    message = post(net.nurse, book)
    assert notify_message(message.pk) == 3  # the team but the author
    assert notify_message(message.pk) == 0


def test_notify_message_skips_deleted_and_missing_messages(net, book, post):
    message = post(net.nurse, book)
    services.message_delete(net.nurse, thread=book.pk, seq=message.seq)
    assert notify_message(message.pk) == 0
    assert notify_message(999_999) == 0


def test_post_queues_notify_only_after_commit(net, book, post, queued_tasks, on_commit):
    with on_commit():
        message = post(net.nurse, book, "血圧が高めです", priority="important")
        assert queued_tasks.notify == []
    assert queued_tasks.notify == [message.pk]


@pytest.mark.parametrize(
    ("body", "extra", "notified"),
    [
        ("本日訪問しました。", {}, True),
        ("@primary 確認をお願いします", {}, True),
        ("血圧が高めです", {"priority": "important"}, True),
        ("呼吸苦あり", {"kind": "urgent"}, True),
    ],
)
def test_every_post_queues_one_notify_task_whatever_the_team_size(
    net, book, post, queued_tasks, on_commit, body, extra, notified
):
    # Routine posts too (messaging.notices decides per person on the worker).
    with on_commit():
        message = post(net.nurse, book, body, **extra)
    assert queued_tasks.notify == ([message.pk] if notified else [])
