"""The notifications pages and the header's bell."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Notice, Preference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_as(client: Client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_the_bell_shows_the_unread_count_on_every_page(client_as):
    me = UserFactory()
    Notice.objects.create(recipient=me, kind="x", key="a", title="t", url="/")
    page = client_as(me).get("/directory/")
    assert page.status_code == 200
    assert 'id="notice-count"' in page.text
    assert 'data-unread="1"' in page.text
    assert "notifications/bell.js" in page.text


def test_the_list_shows_my_notices_and_opening_one_marks_it_read_and_goes_there(client_as):
    me, other = UserFactory(), UserFactory()
    mine = Notice.objects.create(
        recipient=me, kind="x", key="a", title="私のお知らせ", url="/directory/"
    )
    Notice.objects.create(recipient=other, kind="x", key="a", title="他人のお知らせ", url="/")
    client = client_as(me)
    page = client.get("/notifications/")
    assert "私のお知らせ" in page.text
    assert "他人のお知らせ" not in page.text
    opened = client.post(f"/notifications/{mine.pk}/open/")
    assert opened.status_code == 302
    assert opened["Location"] == "/directory/"
    mine.refresh_from_db()
    assert mine.read_at is not None


def test_opening_someone_elses_notice_is_the_404_page(client_as):
    theirs = Notice.objects.create(recipient=UserFactory(), kind="x", key="a", title="t", url="/")
    assert client_as(UserFactory()).post(f"/notifications/{theirs.pk}/open/").status_code == 404


def test_mark_all_read(client_as):
    me = UserFactory()
    for key in "ab":
        Notice.objects.create(recipient=me, kind="x", key=key, title="t", url="/")
    answer = client_as(me).post("/notifications/read-all/")
    assert answer.status_code == 302
    assert not Notice.objects.filter(recipient=me, read_at__isnull=True).exists()


def test_preferences_page_saves_and_refuses_with_field_errors(client_as):
    me = UserFactory()
    client = client_as(me)
    assert client.get("/notifications/preferences/").status_code == 200
    form = {"routine": ["in_app"], "important": ["in_app", "push"], "urgent": ["in_app", "sms"],
            "quiet_start": "22:00", "quiet_end": "06:30", "time_zone": "Asia/Tokyo",
            "digest_hour": "7"}  # fmt: skip
    assert client.post("/notifications/preferences/", form).status_code == 302
    assert Preference.objects.get(user=me).urgent == ["in_app", "sms"]
    refused = client.post("/notifications/preferences/", {**form, "urgent": ["sms"]})
    assert refused.status_code == 400
    assert "緊急のお知らせはアプリ内通知を外せません。" in refused.text
    assert Preference.objects.get(user=me).urgent == ["in_app", "sms"]
