"""Delivery of a stored notice: channels per preference, quiet hours, retries, the sweep."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services
from notifications.models import Channel, Delivery, DeliveryState, Notice, Preference, Urgency
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_notice(person, urgency=Urgency.ROUTINE, key="k1"):
    return Notice.objects.create(
        recipient=person, kind="message.new", key=key, title="山田さんの新しいメッセージ",
        body="連絡帳: 小林 ハル\n血圧 128/76", url="/patients/1/#thread", urgency=urgency,
    )  # fmt: skip


def quiet_now(person, *, zone="Asia/Tokyo"):
    """Quiet hours from an hour ago to an hour from now, in the person's zone."""
    local = (
        timezone.now().astimezone(datetime.UTC).astimezone(__import__("zoneinfo").ZoneInfo(zone))
    )
    start = (local - datetime.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + datetime.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    return Preference.objects.create(
        user=person, quiet_start=start, quiet_end=end, time_zone=zone,
        routine=["in_app", "email"], important=["in_app", "email"],
        urgent=["in_app", "email"],
    )  # fmt: skip


def test_in_app_delivery_sends_the_notice_and_the_unread_count_live(live_events, queued):
    person = UserFactory()
    notice = make_notice(person)
    assert services.deliver(notice.pk) == [DeliveryState.SENT]
    delivery = Delivery.objects.get(notice=notice)
    assert (delivery.channel, delivery.state, delivery.attempts) == ("in_app", "sent", 1)
    [live] = live_events
    assert live.user_ids == [person.pk]
    assert live.event["type"] == "notice.new"
    assert live.event["notice"]["id"] == notice.pk
    assert live.event["unread"] == 1


def test_email_delivery_carries_the_title_and_link_but_not_the_body(live_events):
    person = UserFactory(email="dr@example.jp")
    Preference.objects.create(user=person, important=["in_app", "email"])
    notice = make_notice(person, Urgency.IMPORTANT)
    services.deliver(notice.pk)
    [sent] = mail.outbox
    assert sent.to == ["dr@example.jp"]
    assert "山田さんの新しいメッセージ" in sent.subject
    assert "http://127.0.0.1:8000/patients/1/#thread" in sent.body
    assert "128/76" not in sent.body
    assert Delivery.objects.get(notice=notice, channel="email").state == "sent"


def test_delivery_is_planned_once_and_sent_once(live_events):
    person = UserFactory(email="n@example.jp")
    Preference.objects.create(user=person, routine=["in_app", "email"])
    notice = make_notice(person)
    services.deliver(notice.pk)
    services.deliver(notice.pk)
    services.sweep()
    assert Delivery.objects.filter(notice=notice).count() == 2
    assert len(mail.outbox) == 1
    assert len(live_events) == 1


def test_quiet_hours_hold_routine_notices_until_their_end_then_send_one_digest(live_events):
    person = UserFactory(email="q@example.jp")
    quiet_now(person)
    first, second = make_notice(person, key="a"), make_notice(person, key="b")
    services.deliver(first.pk)
    services.deliver(second.pk)
    held = Delivery.objects.filter(channel="email")
    assert {d.state for d in held} == {"held"}
    assert mail.outbox == []
    assert len(live_events) == 2  # the app's own list is never held
    assert services.sweep()["digests"] == 0
    Delivery.objects.filter(state="held").update(next_attempt_at=timezone.now())
    assert services.sweep()["digests"] == 1
    [digest] = mail.outbox
    assert "2件" in digest.subject
    assert {d.state for d in Delivery.objects.filter(channel="email")} == {"sent"}
    assert {d.reason for d in Delivery.objects.filter(channel="email")} == {"digest"}


def test_urgent_notices_are_never_held_by_quiet_hours(live_events):
    person = UserFactory(email="u@example.jp")
    quiet_now(person)
    notice = make_notice(person, Urgency.URGENT)
    services.deliver(notice.pk)
    assert Delivery.objects.get(notice=notice, channel="email").state == "sent"
    assert len(mail.outbox) == 1


def test_quiet_hours_wrapping_midnight_end_the_next_morning():
    zone = __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    pref = Preference(quiet_start=datetime.time(22), quiet_end=datetime.time(7))
    late = datetime.datetime(2026, 12, 3, 23, 30, tzinfo=zone)
    early = datetime.datetime(2026, 12, 4, 6, 0, tzinfo=zone)
    noon = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=zone)
    assert pref.quiet_until(late) == datetime.datetime(2026, 12, 4, 7, 0, tzinfo=zone)
    assert pref.quiet_until(early) == datetime.datetime(2026, 12, 4, 7, 0, tzinfo=zone)
    assert pref.quiet_until(noon) is None


def test_a_failing_channel_is_retried_with_backoff_then_failed_with_its_reason(
    live_events, settings
):
    settings.EMAIL_BACKEND = "tests.notifications.test_delivery.BrokenBackend"
    person = UserFactory(email="f@example.jp")
    Preference.objects.create(user=person, routine=["email"])
    notice = make_notice(person)
    assert services.deliver(notice.pk) == ["pending"]
    delivery = Delivery.objects.get(notice=notice)
    assert delivery.attempts == 1
    assert "SMTP down" in delivery.reason
    wait = delivery.next_attempt_at - timezone.now()
    assert datetime.timedelta(seconds=20) < wait <= datetime.timedelta(seconds=30)
    for _ in range(services.MAX_ATTEMPTS):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.sweep()
    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert delivery.attempts == services.MAX_ATTEMPTS


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP down")


def test_channels_a_person_cannot_receive_fail_at_once_with_the_reason(live_events):
    person = UserFactory(email="", phone="")
    Preference.objects.create(user=person, routine=["push", "email", "sms"])
    notice = make_notice(person)
    services.deliver(notice.pk)
    reasons = {d.channel: (d.state, d.reason) for d in Delivery.objects.filter(notice=notice)}
    assert reasons["email"] == ("failed", "no e-mail address")
    assert reasons["sms"] == ("failed", "no phone number")
    assert reasons["push"][0] == "failed"


def test_sms_goes_through_the_logging_sender(live_events, caplog):
    person = UserFactory(phone="090-1234-5678")
    Preference.objects.create(user=person, routine=["sms"])
    notice = make_notice(person)
    with caplog.at_level("INFO", logger="notifications.channels"):
        services.deliver(notice.pk)
    assert Delivery.objects.get(notice=notice).state == "sent"
    assert "SMS to 090-1234-5678" in caplog.text


def test_the_sweep_plans_a_notice_whose_task_was_lost(live_events):
    person = UserFactory()
    notice = make_notice(person)
    Notice.objects.filter(pk=notice.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert services.sweep()["planned"] == 1
    assert Delivery.objects.get(notice=notice).state == "sent"


def test_a_delivery_left_claimed_by_a_dead_worker_is_sent_by_the_sweep(live_events):
    person = UserFactory()
    notice = make_notice(person)
    services.dispatch(notice.pk)
    Delivery.objects.filter(notice=notice).update(
        state=DeliveryState.SENDING, attempts=1, next_attempt_at=timezone.now()
    )
    services.sweep()
    delivery = Delivery.objects.get(notice=notice)
    assert (delivery.state, delivery.attempts) == ("sent", 2)


def test_notify_queues_delivery_after_commit(queued, django_capture_on_commit_callbacks):
    person = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notice = services.notify(person.pk, kind="x", key="q", title="t", url="/")
    assert notice is not None
    assert queued == [notice.pk]


def test_channel_choices_cover_every_channel():
    assert set(Channel.values) == {"in_app", "push", "email", "sms"}
