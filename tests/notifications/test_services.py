"""notify(): the notice is written with its cause, once per key, and delivered after commit."""

from __future__ import annotations

import pytest

from notifications.models import Notice, Urgency
from notifications.services import notify
from notifications.signals import notice_committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_notify_writes_one_notice_per_key(django_capture_on_commit_callbacks):
    person = UserFactory()
    with django_capture_on_commit_callbacks(execute=False):
        first = notify(person.pk, kind="message.new", key="m:1", title="新着", url="/p/1/")
        again = notify(person.pk, kind="message.new", key="m:1", title="新着", url="/p/1/")
    assert first is not None
    assert again is None
    assert Notice.objects.filter(recipient=person).count() == 1
    assert first.urgency == Urgency.ROUTINE


def test_notify_announces_the_notice_only_after_commit(django_capture_on_commit_callbacks):
    person = UserFactory()
    seen: list[int] = []

    def record(sender, *, notice_id, **kwargs):
        seen.append(notice_id)

    notice_committed.connect(record, dispatch_uid="test-record")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notice = notify(person.pk, kind="x", key="k", title="t", url="/")
            assert seen == []
    finally:
        notice_committed.disconnect(dispatch_uid="test-record")
    assert notice is not None
    assert seen == [notice.pk]


def test_notify_with_an_unknown_urgency_fails_with_its_cause():
    from django.db import IntegrityError, transaction

    person = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        notify(person.pk, kind="x", key="bad", title="t", url="/", urgency="panic")
    assert not Notice.objects.filter(recipient=person).exists()
