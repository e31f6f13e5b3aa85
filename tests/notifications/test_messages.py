"""Messages become notices on the worker: new messages, @mentions, urgent messages."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from messaging import services as messaging
from messaging.tasks import notify_message
from notifications.models import Notice, Preference
from notifications.services import daily_digests

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(net):
    return messaging.contact_book_ensure(net.patient)


def post(user, thread, body, **kwargs):
    return messaging.message_post(
        user, thread=thread.pk, body=body, client_id=uuid.uuid4(), **kwargs
    ).message


def test_a_new_message_notifies_the_team_but_not_its_author(net, book, queued):
    message = post(net.nurse, book, "本日訪問しました。")
    assert notify_message(message.pk) == 3
    got = Notice.objects.filter(key=f"message:{message.pk}")
    assert {n.recipient_id for n in got} == {net.primary.pk, net.secondary.pk, net.pharmacist.pk}
    assert {n.urgency for n in got} == {"routine"}
    assert "小林" not in got[0].title  # titles may show on a lock screen
    assert got[0].body == ""  # the text is read in the thread, gated and audited
    assert got[0].url == f"/patients/{net.patient.pk}/#thread"


def test_notices_of_a_message_are_written_once(net, book, queued):
    message = post(net.nurse, book, "本日訪問しました。")
    notify_message(message.pk)
    assert notify_message(message.pk) == 0
    assert Notice.objects.count() == 3


def test_a_mention_is_an_important_notice_under_its_own_key(net, book, queued):
    message = post(net.nurse, book, "@primary 先生ご確認ください")
    notify_message(message.pk)
    mention = Notice.objects.get(recipient=net.primary)
    assert (mention.kind, mention.key, mention.urgency) == (
        "message.mention", f"mention:{message.pk}", "important",
    )  # fmt: skip


def test_an_urgent_message_is_an_urgent_notice(net, book, queued):
    message = post(net.nurse, book, "呼吸が苦しそうです", priority="urgent")
    notify_message(message.pk)
    assert set(Notice.objects.values_list("urgency", flat=True)) == {"urgent"}


def test_people_who_want_no_routine_notices_get_none(net, book, queued):
    Preference.objects.create(user=net.pharmacist, routine=[])
    message = post(net.nurse, book, "本日訪問しました。")
    notify_message(message.pk)
    assert not Notice.objects.filter(recipient=net.pharmacist).exists()


def test_deleted_and_missing_messages_notify_nobody(net, book, queued):
    assert notify_message(999_999) == 0


def test_the_daily_digest_mails_unread_threads_once_a_day(net, book, queued):
    net.primary.email = "yamada@example.jp"
    net.primary.save()
    Preference.objects.create(user=net.primary, daily_digest=True, digest_hour=0)
    post(net.nurse, book, "本日訪問しました。")
    assert daily_digests() == 1
    assert daily_digests() == 0
    [digest] = mail.outbox
    assert digest.to == ["yamada@example.jp"]
    assert "未読 1件" in digest.body


def test_the_sweep_writes_the_notices_of_a_message_whose_task_was_lost(net, book, queued):
    import datetime

    from django.utils import timezone

    from messaging.models import Message
    from messaging.tasks import notices_sweep

    message = post(net.nurse, book, "@primary 至急ご確認ください", priority="urgent")
    assert notices_sweep() == 0  # within its grace: its own task may still run
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - datetime.timedelta(seconds=30)
    )
    assert notices_sweep() == 3
    assert Notice.objects.get(recipient=net.primary).key == f"mention:{message.pk}"
    assert notices_sweep() == 0  # found once: its notices exist now
