"""A new kind of grant is one entry in `patients.access.GRANTS`, with its holders' row of
`patients.access.POLICY`: the patient list, the thread gate (compiled for the hot paths),
posting and the receivers of live events all follow it.

The grant added here stands in for the ones the routing and conference work will add (an
on-call physician reached by an escalation, a hospital invited to one conference): it reuses
the break-glass table, counting a grant that expired within the last day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from config.errors import NotFound
from messaging import services
from messaging.access import access_thread, forget_compiled_rules, thread_member_ids
from patients import access
from patients.access import Capability, Grant, Moment, patients_visible_to
from patients.models import BreakGlassGrant

pytestmark = pytest.mark.django_db


def _recently_expired(at: Moment) -> QuerySet[Any]:
    return BreakGlassGrant.objects.filter(
        expires_at__lte=at.now, expires_at__gt=at.now - dt.timedelta(days=1)
    )


@pytest.fixture
def with_new_grant(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    grant = Grant("after_hours", _recently_expired, receives_events=True)
    monkeypatch.setattr(access, "GRANTS", (*access.GRANTS, grant))
    # And its row of the policy: the after-hours physician reads and posts.
    policy = {**access.POLICY, "after_hours": frozenset({Capability.READ, Capability.POST})}
    monkeypatch.setattr(access, "POLICY", policy)
    forget_compiled_rules()
    yield
    monkeypatch.undo()
    forget_compiled_rules()


def _expired_grant(net: Any) -> None:
    grant = BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.stranger,
        reason="夜間の往診依頼に対応",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    past = timezone.now() - dt.timedelta(hours=1)
    BreakGlassGrant.objects.filter(pk=grant.pk).update(
        granted_at=past - dt.timedelta(hours=1), expires_at=past
    )


def test_without_the_grant_an_expired_grant_gives_nothing(net, book):
    _expired_grant(net)
    assert not patients_visible_to(net.stranger).exists()
    with pytest.raises(NotFound):
        access_thread(net.stranger, book.pk)
    assert net.stranger.pk not in thread_member_ids(book)


def test_one_new_entry_in_grants_reaches_every_form_of_the_rule(net, book, with_new_grant):
    _expired_grant(net)
    assert list(patients_visible_to(net.stranger)) == [net.patient]
    assert access_thread(net.stranger, book.pk) == book
    assert net.stranger.pk in thread_member_ids(book)
    posted = services.message_post(
        net.stranger, thread=book.pk, client_id=uuid.uuid4(), body="往診します"
    )
    assert posted.created
