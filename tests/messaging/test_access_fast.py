"""The thread gate as the hot paths run it (`access_thread`, `threads_visible_to`: the ORM
rule compiled once) gives the same answer as the ORM rule `thread_rule` itself, runs once per
request, and a post survives a broker outage after its commit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from config.errors import Forbidden, NotFound
from messaging import access, api, receivers, services, views
from messaging.access import access_thread, thread_condition, thread_rule, threads_visible_to
from messaging.models import Message, Thread
from messaging.selectors import attach_mentions, attach_read_by, messages_base, messages_page
from messaging.serializers import MessageOutputSerializer, message_data
from patients.access import Capability, Moment
from patients.models import BreakGlassGrant, CareTeamMember, Consent
from teams.models import Membership, User
from tests.factories import NetworkFactory

pytestmark = pytest.mark.django_db

PERSONAS = ("primary", "secondary", "nurse", "pharmacist", "coordinator", "outsider", "stranger")


@pytest.fixture
def threads(net: Any, book: Thread) -> list[Thread]:
    """A thread of every kind: the contact book, a topic, an organization's, two networks'."""
    network = net.lead_clinic.networks.get()
    lone = NetworkFactory(name="どこにも属さないネットワーク")
    lone.coordinators.add(net.stranger)
    return [
        book,
        services.thread_create_topic(net.primary, patient_id=net.patient.pk, title="退院調整"),
        services.thread_create_coordination(
            net.primary, title="院内連絡", organization_id=net.lead_clinic.pk
        ),
        services.thread_create_coordination(
            net.coordinator, title="夜間輪番", network_id=network.pk
        ),
        services.thread_create_coordination(net.stranger, title="他地域", network_id=lone.pk),
    ]


def _nothing(net: Any) -> None:
    pass


def _consent_withdrawn(net: Any) -> None:
    Consent.objects.filter(patient=net.patient).update(withdrawn_at=timezone.now())


def _station_not_covered(net: Any) -> None:
    Consent.objects.get(patient=net.patient).organizations.remove(net.station)


def _nurse_place_ended(net: Any) -> None:
    CareTeamMember.objects.filter(patient=net.patient, user=net.nurse).update(
        end_date=timezone.localdate() - dt.timedelta(days=1)
    )


def _stranger_breaks_the_glass(net: Any) -> None:
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=net.stranger,
        reason="救急搬送時の情報確認",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )


def _outsider_leaves_the_clinic(net: Any) -> None:
    Membership.objects.filter(user=net.outsider).update(is_active=False)


def _coordinator_no_longer_coordinates(net: Any) -> None:
    net.lead_clinic.networks.get().coordinators.remove(net.coordinator)
    Membership.objects.filter(user=net.coordinator).update(is_active=False)


def _pharmacist_deactivated(net: Any) -> None:
    net.pharmacist.is_active = False
    net.pharmacist.save(update_fields=["is_active"])


CASES: list[Callable[[Any], None]] = [
    _nothing,
    _consent_withdrawn,
    _station_not_covered,
    _nurse_place_ended,
    _stranger_breaks_the_glass,
    _outsider_leaves_the_clinic,
    _coordinator_no_longer_coordinates,
    _pharmacist_deactivated,
]


def _visible(user: User, thread: Thread) -> bool:
    try:
        return access_thread(user, thread.pk) == thread
    except (NotFound, Forbidden):  # Forbidden: on the team, left out by the consent
        return False


@pytest.mark.parametrize("change", CASES, ids=[c.__name__[1:] for c in CASES])
def test_the_compiled_gate_agrees_with_the_orm_rule(
    net: Any, threads: list[Thread], change: Callable[[Any], None]
) -> None:
    change(net)
    granted = 0
    for name in PERSONAS:
        user = getattr(net, name)
        user.refresh_from_db()
        visible = set(threads_visible_to(user))
        rule = Thread.objects.filter(thread_rule(user.pk, Moment.current()))
        assert visible == (set(rule) if user.is_active else set()), name
        # The post form, as the post statement runs it (compiled), against the ORM.
        post_rule = Thread.objects.filter(thread_rule(user.pk, Moment.current(), Capability.POST))
        if user.is_active:
            text, params = thread_condition(user, Capability.POST)
            compiled = Thread.objects.filter(RawSQL(text, params, output_field=BooleanField()))
            assert set(compiled) == set(post_rule), name
        for thread in threads:
            assert _visible(user, thread) is (thread in visible), (name, thread)
            granted += thread in visible
    assert granted > 0


def test_missing_thread_and_garbage_id_are_not_found(net: Any) -> None:
    for bad in (999_999, "x", None, "1; drop table"):
        with pytest.raises(NotFound):
            access_thread(net.primary, bad)


def test_access_thread_runs_one_query(net: Any, threads: list[Thread], django_assert_num_queries):
    for thread in threads[:4]:
        with django_assert_num_queries(1):
            access_thread(net.primary, thread.pk)


def _count_gate(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = access.access_thread

    def counting(*args: Any, **kwargs: Any) -> Thread:
        calls.append(1)
        return real(*args, **kwargs)

    for module in (api, services, views):
        monkeypatch.setattr(module, "access_thread", counting)
    return calls


def test_a_post_over_the_api_checks_access_once(api_as, net, book, monkeypatch) -> None:
    calls = _count_gate(monkeypatch)
    url = reverse("messaging:thread-messages", kwargs={"thread_id": book.pk})
    res = api_as(net.nurse).post(url, {"client_id": str(uuid.uuid4()), "body": "x"}, format="json")
    assert res.status_code == 201
    assert len(calls) == 1


def test_a_post_from_the_web_form_checks_access_once(client, net, book, monkeypatch) -> None:
    calls = _count_gate(monkeypatch)
    client.force_login(net.nurse)
    url = reverse("thread-post", kwargs={"thread_id": book.pk})
    res = client.post(url, {"client_id": str(uuid.uuid4()), "body": "x"})
    assert res.status_code == 302
    assert Message.objects.filter(thread=book, body="x").exists()
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_broker_outage_after_commit_still_answers_201(api_as, net, book, monkeypatch, sent_events):
    # A real commit (transactional test): the after-commit hooks run inside the request, as
    # in production, so an error there would reach the response.
    tried: list[int] = []

    class DownBroker:
        @staticmethod
        def delay(message_id: int) -> None:
            tried.append(message_id)
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(receivers, "notify_message", DownBroker)
    url = reverse("messaging:thread-messages", kwargs={"thread_id": book.pk})
    cid = str(uuid.uuid4())
    payload = {"client_id": cid, "body": "届きました", "priority": "important"}
    res = api_as(net.nurse).post(url, payload, format="json")
    assert res.status_code == 201
    message = Message.objects.get(author=net.nurse, client_id=cid, body="届きました")
    assert tried == [message.pk]
    assert [e.event["type"] for e in sent_events] == ["message.new"]


def test_message_data_is_exactly_the_serializer_output(net, book, post) -> None:
    first = post(net.nurse, book, "@primary @pharmacist 訪問しました")
    reply = post(net.primary, book, "了解です", reply_to_seq=first.seq, kind="question")
    services.message_edit(net.primary, thread=book.pk, seq=reply.seq, body="了解しました")
    gone = post(net.pharmacist, book, "@nurse 消します")
    services.message_delete(net.pharmacist, thread=book.pk, seq=gone.seq)
    services.thread_mark_read(net.secondary, thread=book.pk, seq=3)
    rows, _ = messages_page(net.nurse, book)
    assert len(rows) == 3
    for m in rows:
        assert message_data(m) == dict(MessageOutputSerializer(m).data)
    assert [len(message_data(m)["mentions"]) for m in rows] == [0, 0, 2]


def test_page_query_renders_like_the_orm_path(net, book, post) -> None:
    """`messages_page` reads a page in one plain query; each message renders exactly as the
    same message loaded through the ORM with `attach_mentions` and `attach_read_by`."""
    first = post(net.nurse, book, "@primary @pharmacist 訪問しました")
    post(net.primary, book, "了解です", reply_to_seq=first.seq, kind="question")
    gone = post(net.pharmacist, book, "@nurse 消します")
    services.message_delete(net.pharmacist, thread=book.pk, seq=gone.seq)
    post(net.secondary, book, "夜間は私が対応します")
    rows, has_more = messages_page(net.nurse, book, limit=3)
    orm = list(messages_base().filter(thread=book).order_by("-seq")[:3])
    attach_mentions(orm)
    attach_read_by(orm)
    assert has_more
    assert [message_data(m) for m in rows] == [message_data(m) for m in orm]
    older, _ = messages_page(net.nurse, book, before=rows[-1].seq)
    assert [m.seq for m in older] == [1]
    newer, _ = messages_page(net.nurse, book, after=1, limit=2)
    assert [m.seq for m in newer] == [2, 3]
    # Each author's post moved their own mark: nurse 1, primary 2, pharmacist 3, secondary 4.
    assert [message_data(m)["read_by"] for m in rows] == [0, 1, 2]
