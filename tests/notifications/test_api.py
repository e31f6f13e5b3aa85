"""The notifications API: my notices, the unread count, marking read, preferences, push."""

from __future__ import annotations

import pytest

from notifications.models import Notice, Preference, PushSubscription
from tests.factories import UserFactory
from tests.notifications.conftest import browser_keys

pytestmark = pytest.mark.django_db


def notices(person, n):
    return [
        Notice.objects.create(recipient=person, kind="message.new", key=f"k{i}", title=f"t{i}",
                              url="/")
        for i in range(n)
    ]  # fmt: skip


def test_notice_list_is_mine_newest_first_paginated_in_constant_queries(
    api_as, queued, django_assert_max_num_queries
):
    me, other = UserFactory(), UserFactory()
    notices(me, 30)
    notices(other, 3)
    client = api_as(me)
    with django_assert_max_num_queries(4):
        answer = client.get("/api/v1/notifications/?limit=10")
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 30
    assert [n["title"] for n in body["results"]][:2] == ["t29", "t28"]
    assert len(body["results"]) == 10


def test_unread_only_and_a_bad_flag_is_a_400(api_as):
    me = UserFactory()
    first, _second = notices(me, 2)
    Notice.objects.filter(pk=first.pk).update(read_at="2026-12-01T00:00:00Z")
    client = api_as(me)
    assert client.get("/api/v1/notifications/?unread=1").json()["count"] == 1
    bad = client.get("/api/v1/notifications/?unread=yes")
    assert bad.status_code == 400
    assert "unread" in bad.json()["error"]["fields"]


def test_unread_count_and_mark_read_and_read_all(
    api_as, live_events, django_capture_on_commit_callbacks
):
    me = UserFactory()
    first, _a, _b = notices(me, 3)
    client = api_as(me)
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 3}
    with django_capture_on_commit_callbacks(execute=True):
        read = client.post(f"/api/v1/notifications/{first.pk}/read/")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert live_events[-1].event == {"type": "notice.read", "ids": [first.pk], "unread": 2}
    with django_capture_on_commit_callbacks(execute=True):
        all_read = client.post("/api/v1/notifications/read-all/")
    assert all_read.json() == {"marked": 2, "unread": 0}
    assert live_events[-1].event["unread"] == 0


def test_someone_elses_notice_is_not_found(api_as):
    me, other = UserFactory(), UserFactory()
    [theirs] = notices(other, 1)
    answer = api_as(me).post(f"/api/v1/notifications/{theirs.pk}/read/")
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_preferences_have_defaults_and_save_what_is_sent(api_as):
    me = UserFactory()
    client = api_as(me)
    assert client.get("/api/v1/notifications/preferences/").json()["urgent"] == [
        "in_app", "push", "email", "sms",
    ]  # fmt: skip
    saved = client.put(
        "/api/v1/notifications/preferences/",
        {"routine": [], "quiet_start": "22:00", "quiet_end": "07:00", "daily_digest": True},
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    pref = Preference.objects.get(user=me)
    assert pref.routine == []
    assert str(pref.quiet_start) == "22:00:00"
    assert pref.daily_digest is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"routine": ["fax"]}, "routine"),
        ({"urgent": ["email"]}, "urgent"),
        ({"quiet_start": "22:00"}, "quiet_end"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "quiet_end"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"digest_hour": 24}, "digest_hour"),
    ],
)
def test_bad_preferences_are_a_400_with_the_field_and_change_nothing(api_as, body, field):
    me = UserFactory()
    answer = api_as(me).put("/api/v1/notifications/preferences/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["error"]["fields"]
    assert not Preference.objects.filter(user=me).exists()


def test_a_push_subscription_is_kept_per_device(api_as):
    me = UserFactory()
    p256dh, auth = browser_keys()
    body = {
        "endpoint": "https://push.example.com/send/abc",
        "keys": {"p256dh": p256dh, "auth": auth},
    }
    client = api_as(me)
    assert client.post("/api/v1/notifications/push/", body, format="json").status_code == 201
    assert client.post("/api/v1/notifications/push/", body, format="json").status_code == 201
    assert PushSubscription.objects.filter(user=me).count() == 1
    gone = client.delete(
        "/api/v1/notifications/push/", {"endpoint": body["endpoint"]}, format="json"
    )
    assert gone.status_code == 204
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("endpoint", "keys", "field"),
    [
        ("http://push.example.com/x", None, "endpoint"),
        ("javascript:alert(1)", None, "endpoint"),
        ("https://", None, "endpoint"),
        ("https://user:pw@push.example.com/x", None, "endpoint"),
        ("https://push.example.com/" + "a" * 1000, None, "endpoint"),
        ("https://push.example.com/x", {"p256dh": "AAAA", "auth": "x"}, "p256dh"),
        ("https://push.example.com/x", {"p256dh": None, "auth": "short"}, "auth"),
    ],
)
def test_a_malformed_push_subscription_is_a_400(api_as, endpoint, keys, field):
    p256dh, auth = browser_keys()
    sent_keys = {"p256dh": p256dh, "auth": auth}
    if keys:
        sent_keys.update({k: v for k, v in keys.items() if v is not None})
    answer = api_as(UserFactory()).post(
        "/api/v1/notifications/push/", {"endpoint": endpoint, "keys": sent_keys}, format="json"
    )
    assert answer.status_code == 400
    assert field in answer.json()["error"]["fields"]
    assert not PushSubscription.objects.exists()


def test_the_push_key_is_the_configured_public_key(api_as, settings):
    settings.KIZUNA_VAPID_PUBLIC_KEY = "BPublicKey"
    answer = api_as(UserFactory()).get("/api/v1/notifications/push/key/")
    assert answer.json() == {"public_key": "BPublicKey"}


def test_anonymous_callers_are_refused(api):
    assert api.get("/api/v1/notifications/").status_code in (401, 403)
