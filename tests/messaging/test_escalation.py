"""The escalation of urgent requests: each step a row with its deadline, fired once; skipped
when its recipient is away; stopped by an acknowledgement; moved on by 対応できません; the
waiting recipient notified again (issue 13, item 2)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from messaging import escalation, requests
from messaging.models import EscalationStep, Request, RequestStatus, Tier
from notifications.models import Notice
from patients.access import can_see_patient
from patients.models import EscalationGrant
from teams.models import LeavePeriod

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short_clock(settings):
    settings.KIZUNA_ESCALATION_MINUTE_SECONDS = 1.0  # team deadlines of 10 "minutes" = 10 s


def _urgent(ask, net, book):
    return ask(net.nurse, book, "呼吸が苦しそうです。往診をお願いします", priority="urgent")


def _steps(request):
    return list(EscalationStep.objects.filter(request=request).order_by("order"))


def _later(seconds):
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_an_urgent_request_asks_the_primary_at_once_and_schedules_the_secondary(
    net, book, ask, queued_steps
):
    request = _urgent(ask, net, book)
    first, second = _steps(request)
    assert (first.tier, first.recipient, first.fired_at is not None) == (
        Tier.PRIMARY,
        net.primary,
        True,
    )
    assert second.tier == Tier.SECONDARY
    assert second.fired_at is None
    assert 9 <= (second.deadline - first.fired_at).total_seconds() <= 10
    notice = Notice.objects.get(recipient=net.primary, kind="routing.step")
    assert notice.urgency == "urgent"
    assert notice.key == f"escalation:{first.pk}:0"
    assert request.owner == net.primary


def test_the_team_sets_its_first_deadline(net, book, ask):
    net.patient.escalation_first_minutes = 3
    net.patient.save()
    request = _urgent(ask, net, book)
    first, second = _steps(request)
    assert round((second.deadline - first.fired_at).total_seconds()) == 3


def test_the_deadline_fires_the_secondary_once(net, book, ask):
    request = _urgent(ask, net, book)
    second = _steps(request)[1]
    assert escalation.fire_step(second.pk) is False  # not yet due
    at = _later(11)
    assert escalation.fire_step(second.pk, now=at) is True
    assert escalation.fire_step(second.pk, now=at) is False
    second.refresh_from_db()
    assert second.recipient == net.secondary
    assert Notice.objects.filter(recipient=net.secondary, kind="routing.step").count() == 1
    assert _steps(request)[2].tier == Tier.ON_CALL


def test_an_unavailable_primary_is_skipped_at_once(net, book, ask):
    net.primary.off_duty = True
    net.primary.save()
    request = _urgent(ask, net, book)
    first, second, third = _steps(request)
    assert first.skipped == "現在対応不可"
    assert first.recipient is None
    assert second.recipient == net.secondary
    assert second.fired_at is not None
    assert third.tier == Tier.ON_CALL
    assert third.fired_at is None
    assert not Notice.objects.filter(recipient=net.primary).exists()


def test_a_primary_on_leave_is_skipped(net, book, ask):
    today = timezone.localdate()
    LeavePeriod.objects.create(user=net.primary, starts_on=today, ends_on=today)
    request = _urgent(ask, net, book)
    assert _steps(request)[0].skipped == "休暇中"


def test_an_acknowledgement_stops_the_chain(net, book, ask):
    request = _urgent(ask, net, book)
    replied = requests.request_reply(
        net.primary, request_id=request.pk, kind="will_visit", client_id=uuid.uuid4()
    )
    assert replied.request.status == RequestStatus.ANSWERED
    steps = _steps(request)
    assert len(steps) == 1
    assert steps[0].acknowledged_at is not None
    assert escalation.fire_due(_later(600)) == 0


def test_cannot_moves_the_chain_on_at_once(net, book, ask):
    request = _urgent(ask, net, book)
    requests.request_reply(
        net.primary, request_id=request.pk, kind="cannot", client_id=uuid.uuid4()
    )
    first, second, _third = _steps(request)
    assert first.declined_at is not None
    assert second.recipient == net.secondary
    assert second.fired_at is not None
    request.refresh_from_db()
    assert request.status == RequestStatus.OPEN


def test_the_secondary_reached_by_the_chain_may_answer(net, book, ask):
    request = _urgent(ask, net, book)
    escalation.fire_due(_later(11))
    replied = requests.request_reply(
        net.secondary, request_id=request.pk, kind="will_visit", client_id=uuid.uuid4()
    )
    assert replied.request.answered_by == net.secondary
    second = _steps(request)[1]
    assert second.acknowledged_at is not None


def test_the_on_call_physician_off_the_team_is_granted_access_until_12h_after(
    net, book, ask, on_call
):
    request = _urgent(ask, net, book)
    escalation.fire_due(_later(11))
    assert not can_see_patient(on_call.doctor, net.patient)
    escalation.fire_due(_later(22))
    third = _steps(request)[2]
    assert third.recipient == on_call.doctor
    assert can_see_patient(on_call.doctor, net.patient)
    grant = EscalationGrant.objects.get(user=on_call.doctor)
    assert grant.ends_at is None
    requests.request_reply(
        on_call.doctor, request_id=request.pk, kind="will_call", client_id=uuid.uuid4()
    )
    grant.refresh_from_db()
    assert grant.ends_at is not None
    assert 11.9 < (grant.ends_at - timezone.now()).total_seconds() / 3600 <= 12


def test_after_the_on_call_comes_the_hospital_of_the_rotation(net, book, ask, on_call):
    request = _urgent(ask, net, book)
    for seconds in (11, 22, 33):
        escalation.fire_due(_later(seconds))
    fourth = _steps(request)[3]
    assert fourth.tier == Tier.HOSPITAL
    assert fourth.recipient == on_call.desk


def test_a_chain_with_nobody_left_tells_the_requester(net, book, ask):
    request = _urgent(ask, net, book)  # no rotation: on-call and hospital are skipped
    escalation.fire_due(_later(11))
    escalation.fire_due(_later(22))
    steps = _steps(request)
    assert [s.skipped != "" for s in steps] == [False, False, True, True]
    assert Notice.objects.filter(recipient=net.nurse, kind="routing.exhausted").count() == 1


def test_the_waiting_recipient_is_notified_again_every_two_minutes(net, book, ask):
    request = _urgent(ask, net, book)
    first = _steps(request)[0]
    assert escalation.renotify_due(_later(1)) == 0
    assert escalation.renotify_due(_later(2.5)) == 1
    assert escalation.renotify_due(_later(2.6)) == 0
    keys = set(Notice.objects.filter(recipient=net.primary).values_list("key", flat=True))
    assert keys == {f"escalation:{first.pk}:0", f"escalation:{first.pk}:1"}


def test_a_withdrawn_request_fires_nothing_more(net, book, ask):
    request = _urgent(ask, net, book)
    requests.request_withdraw(net.nurse, request_id=request.pk)
    assert escalation.fire_due(_later(600)) == 0
    assert EscalationStep.objects.filter(request=request, fired_at__isnull=True).count() == 0


def test_the_chain_is_published_to_the_thread(net, book, ask, sent_events, on_commit):
    with on_commit():
        _urgent(ask, net, book)
    kinds = [s.event["type"] for s in sent_events]
    assert "escalation.step" in kinds
    assert "request.updated" in kinds
    step_event = next(s for s in sent_events if s.event["type"] == "escalation.step")
    assert step_event.event["step"]["recipient"]["username"] == "primary"
    assert net.secondary.pk in step_event.user_ids


def test_a_new_step_is_queued_for_its_deadline(net, book, ask, queued_steps, on_commit):
    with on_commit():
        request = _urgent(ask, net, book)
    second = _steps(request)[1]
    assert [(sid, round(c)) for sid, c in queued_steps] == [(second.pk, 10)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_firing_the_same_step_fire_it_once(net, book, ask):
    request = _urgent(ask, net, book)
    second = _steps(request)[1]
    at = _later(11)
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(escalation.fire_step(second.pk, now=at))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert Notice.objects.filter(recipient=net.secondary, kind="routing.step").count() == 1
    assert Request.objects.get(pk=request.pk).steps.count() == 3
