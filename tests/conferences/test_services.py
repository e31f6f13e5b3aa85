"""Scheduling, who sees what, bad input, the discharge guests' grant, changes that notify
every invitee, answers, and minutes posted to the patient's contact book."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from conferences import selectors, services
from conferences.access import access_conference, conferences_visible_to
from conferences.models import Answer, Invitee, Minutes
from config.errors import DomainError, Forbidden, NotFound
from messaging.models import Message, Thread, ThreadKind
from notifications.models import Notice
from patients.access import can_see_patient
from patients.models import ConferenceGrant
from tests.conferences.conftest import soon
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_scheduling_invites_each_person_once_with_a_notice(net, schedule):
    conference = schedule()
    assert set(Invitee.objects.filter(conference=conference).values_list("user_id", flat=True)) == {
        net.nurse.pk,
        net.pharmacist.pk,
    }
    notices = Notice.objects.filter(kind="conference.invited")
    assert sorted(n.recipient_id for n in notices) == sorted([net.nurse.pk, net.pharmacist.pk])
    assert all(n.url == f"/conferences/{conference.pk}/" for n in notices)
    # The notice names no patient: the recipient may not see them.
    assert all(net.patient.name not in n.title + n.body for n in notices)


def test_inviting_an_organization_invites_its_active_members(net, schedule):
    conference = schedule(invitees=[], organizations=[net.station.pk], agenda=[])
    rows = Invitee.objects.filter(conference=conference)
    assert [(r.user_id, r.via_id) for r in rows] == [(net.nurse.pk, net.station.pk)]


def test_only_the_organizer_and_invitees_see_a_conference(net, schedule):
    conference = schedule()
    for person in (net.primary, net.nurse, net.pharmacist):
        assert access_conference(person, conference.pk) == conference
    for person in (net.secondary, net.outsider, net.stranger, net.coordinator):
        with pytest.raises(NotFound):
            access_conference(person, conference.pk)
        assert not conferences_visible_to(person).exists()


def test_an_invitee_may_not_change_the_conference(net, schedule):
    conference = schedule()
    with pytest.raises(Forbidden):
        services.occurrence_cancel(net.nurse, conference.pk, occurrence=conference.starts_at)


def test_an_agenda_patient_is_named_only_to_invitees_who_see_the_patient(net, schedule):
    conference = schedule(invitees=[net.nurse.pk, net.outsider.pk])
    nurse_page = selectors.conference_page(net.nurse, conference.pk)
    outsider_page = selectors.conference_page(net.outsider, conference.pk)
    assert nurse_page.agenda[0].label == net.patient.name
    assert outsider_page.agenda[0].label == "みどり在宅クリニックの患者"
    assert not outsider_page.agenda[0].visible
    # The nurse's read of the name is audited; the outsider read no patient data.
    assert AuditEvent.objects.filter(
        actor=net.nurse, patient_id=net.patient.pk, action="read"
    ).exists()
    assert not AuditEvent.objects.filter(actor=net.outsider, patient_id=net.patient.pk).exists()


def test_minutes_are_read_only_by_those_who_see_the_patient(net, schedule):
    conference = schedule(starts_at=soon(-10), invitees=[net.nurse.pk, net.outsider.pk])
    item = conference.agenda.get()
    services.minutes_save(
        net.primary, conference.pk, item=item.pk, occurrence=conference.starts_at,
        summary="疼痛はコントロール良好。",
    )  # fmt: skip
    assert len(selectors.conference_page(net.nurse, conference.pk).agenda[0].minutes) == 1
    assert selectors.conference_page(net.outsider, conference.pk).agenda[0].minutes == []


# --- bad input ---------------------------------------------------------------------------


def _fields(caught):
    return caught.value.fields


def test_end_before_start_is_refused(net, schedule):
    start = soon(120)
    with pytest.raises(DomainError) as caught:
        schedule(starts_at=start, ends_at=start - dt.timedelta(minutes=1))
    assert "終了は開始より後" in _fields(caught)["ends_at"][0]


def test_a_recurrence_with_no_end_is_refused(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(recurrence_rule="FREQ=MONTHLY;BYDAY=3TH")
    assert "終わり" in _fields(caught)["recurrence"][0]


def test_a_recurrence_past_two_years_is_refused(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(recurrence_rule="FREQ=WEEKLY;UNTIL=20300101")
    assert "2年以内" in _fields(caught)["recurrence"][0]


def test_inviting_people_outside_the_network_is_refused(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(invitees=[net.nurse.pk, net.stranger.pk])
    assert "ネットワーク外" in _fields(caught)["invitees"][0]
    with pytest.raises(DomainError) as caught:
        schedule(invitees=[], organizations=[net.other_clinic.pk])
    assert "ネットワーク外" in _fields(caught)["organizations"][0]


def test_a_patient_the_organizer_cannot_see_is_refused_without_being_named(net, schedule):
    hidden = PatientFactory(name="秘密 花子", managing_organization=net.lead_clinic)
    for patient_id in (hidden.pk, 10**12, "x"):
        with pytest.raises(DomainError) as caught:
            schedule(agenda=[{"patient": patient_id, "presenter": net.nurse.pk, "question": "?"}])
        message = _fields(caught)["agenda"][0]
        assert "閲覧できる患者のみ" in message
        assert "秘密" not in message


def test_a_discharge_conference_cannot_recur(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(kind="discharge", recurrence_rule="FREQ=WEEKLY;COUNT=3")
    assert "繰り返し" in _fields(caught)["recurrence"][0]


def test_bad_shapes_get_field_errors_not_crashes(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(
            kind="party", title="", starts_at=soon(60), ends_at="yesterday", invitees="1,2",
            agenda=[{"patient": net.patient.pk, "question": "x" * 3000}], is_online=False,
            place="", external_url="http://example.test/room", time_zone="Mars/Olympus",
        )  # fmt: skip
    fields = _fields(caught)
    assert {"kind", "title", "time_zone", "invitees", "agenda", "place", "external_url"} <= set(
        fields
    )


def test_a_presenter_who_is_not_invited_is_refused(net, schedule):
    with pytest.raises(DomainError) as caught:
        schedule(
            agenda=[{"patient": net.patient.pk, "presenter": net.secondary.pk, "question": "?"}]
        )
    assert "発表者" in _fields(caught)["agenda"][-1]


# --- the discharge conference's guests -----------------------------------------------------


def test_hospital_guests_read_the_agenda_patient_for_the_meeting_window_only(
    net, schedule, hospital_nurse
):
    start = soon(10)
    agenda = [{"patient": net.patient.pk, "presenter": hospital_nurse.pk, "question": "退院調整"}]
    conference = schedule(
        kind="discharge", starts_at=start, invitees=[hospital_nurse.pk, net.nurse.pk], agenda=agenda
    )
    grant = ConferenceGrant.objects.get(user=hospital_nurse)
    assert grant.starts_at == start - dt.timedelta(minutes=30)
    assert grant.ends_at == start + dt.timedelta(hours=1, minutes=30)
    assert can_see_patient(hospital_nurse, net.patient)  # the window is open now
    assert not ConferenceGrant.objects.filter(user=net.nurse).exists()  # sees it already
    assert AuditEvent.objects.filter(
        object_type="patients.conferencegrant", patient_id=net.patient.pk
    ).exists()
    services.occurrence_cancel(net.primary, conference.pk, occurrence=start)
    assert not can_see_patient(hospital_nurse, net.patient)


def test_a_guest_grant_outside_its_window_gives_nothing(net, schedule, hospital_nurse):
    schedule(
        kind="discharge", starts_at=soon(24 * 60), invitees=[hospital_nurse.pk],
        agenda=[{"patient": net.patient.pk, "presenter": net.primary.pk, "question": "退院調整"}],
    )  # fmt: skip
    assert ConferenceGrant.objects.filter(user=hospital_nurse).count() == 1
    assert not can_see_patient(hospital_nurse, net.patient)


# --- changes notify every invitee at once --------------------------------------------------


def test_a_move_notifies_every_invitee_and_the_organizer(net, schedule):
    conference = schedule(recurrence_rule="FREQ=WEEKLY;COUNT=4")
    second = conference.starts_at + dt.timedelta(days=7)
    new = second + dt.timedelta(days=1)
    services.occurrence_move(
        net.primary, conference.pk, occurrence=second, starts_at=new,
        ends_at=new + dt.timedelta(hours=1),
    )  # fmt: skip
    moved = Notice.objects.filter(kind="conference.moved")
    assert sorted(n.recipient_id for n in moved) == sorted(
        [net.nurse.pk, net.pharmacist.pk, net.primary.pk]
    )
    found = services.occurrence_list(conference, after=conference.starts_at)
    assert [o.starts_at for o in found if o.moved] == [new]


def test_moving_online_is_one_action_that_notifies_everyone(net, schedule):
    conference = schedule(is_online=False, place="みどり在宅クリニック 2階会議室")
    services.occurrence_go_online(net.primary, conference.pk, occurrence=conference.starts_at)
    assert Notice.objects.filter(kind="conference.online").count() == 3
    found = services.find_occurrence(conference, conference.starts_at)
    assert found.is_online
    with pytest.raises(DomainError):
        services.occurrence_go_online(net.primary, conference.pk, occurrence=conference.starts_at)


def test_a_cancellation_notifies_once_even_if_repeated(net, schedule):
    conference = schedule()
    services.occurrence_cancel(net.primary, conference.pk, occurrence=conference.starts_at)
    with pytest.raises(DomainError):
        services.occurrence_cancel(net.primary, conference.pk, occurrence=conference.starts_at)
    assert Notice.objects.filter(kind="conference.cancelled").count() == 3


def test_a_change_to_an_occurrence_the_series_does_not_have_is_refused(net, schedule):
    conference = schedule(recurrence_rule="FREQ=WEEKLY;COUNT=4")
    with pytest.raises(DomainError) as caught:
        services.occurrence_cancel(
            net.primary, conference.pk, occurrence=conference.starts_at + dt.timedelta(days=1)
        )
    assert "その回はありません" in _fields(caught)["occurrence"][0]


def test_rsvp_is_kept_per_occurrence_and_the_last_answer_counts(net, schedule):
    conference = schedule(recurrence_rule="FREQ=WEEKLY;COUNT=4")
    services.rsvp_answer(net.nurse, conference.pk, occurrence=conference.starts_at, answer="absent")
    services.rsvp_answer(
        net.nurse, conference.pk, occurrence=conference.starts_at, answer="attending"
    )
    assert list(Answer.objects.values_list("rsvp", flat=True)) == ["attending"]
    answers = Notice.objects.filter(kind="conference.rsvp", recipient=net.primary)
    assert answers.count() == 2  # absent, then attending: the organizer hears both
    assert "出席" in answers.order_by("-pk").first().title
    with pytest.raises(DomainError):
        services.rsvp_answer(net.nurse, conference.pk, occurrence=conference.starts_at, answer="?")
    with pytest.raises(NotFound):
        services.rsvp_answer(
            net.outsider, conference.pk, occurrence=conference.starts_at, answer="absent"
        )


# --- minutes -------------------------------------------------------------------------------


def test_minutes_are_posted_to_the_patients_contact_book_and_edited_on_save(net, schedule):
    conference = schedule(starts_at=soon(-10))
    item = conference.agenda.get()
    minutes = services.minutes_save(
        net.primary, conference.pk, item=item.pk, occurrence=conference.starts_at,
        summary="疼痛はコントロール良好。", decisions="オピオイド継続",
        next_steps=[{"text": "訪問時に疼痛評価 @nurse", "owner": net.nurse.pk,
                     "due": (timezone.localdate() + dt.timedelta(days=7)).isoformat()}],
    )  # fmt: skip
    book = Thread.objects.get(patient=net.patient, kind=ThreadKind.CONTACT_BOOK)
    message = Message.objects.get(thread=book, seq=minutes.seq)
    assert message.author_id == net.primary.pk
    assert "【カンファレンス記録】" in message.body
    assert "疼痛はコントロール良好。" in message.body
    assert f"/conferences/{conference.pk}/" in message.body
    assert "担当: 鈴木 恵" in message.body
    assert "@nurse" not in message.body  # free text mentions nobody
    services.minutes_save(
        net.primary, conference.pk, item=item.pk, occurrence=conference.starts_at,
        summary="疼痛は軽減。",
    )  # fmt: skip
    assert Message.objects.filter(thread=book).count() == 1
    message.refresh_from_db()
    assert "疼痛は軽減。" in message.body
    assert Minutes.objects.get().next_steps.count() == 0


def test_minutes_before_the_meeting_or_by_an_invitee_are_refused(net, schedule):
    conference = schedule()
    item = conference.agenda.get()
    with pytest.raises(DomainError) as caught:
        services.minutes_save(
            net.primary, conference.pk, item=item.pk, occurrence=conference.starts_at,
            summary="まだ",
        )  # fmt: skip
    assert "開始後" in _fields(caught)["occurrence"][0]
    with pytest.raises(Forbidden):
        services.minutes_save(
            net.nurse, conference.pk, item=item.pk, occurrence=conference.starts_at, summary="x"
        )


def test_a_next_step_owner_must_be_a_participant(net, schedule):
    conference = schedule(starts_at=soon(-10))
    item = conference.agenda.get()
    with pytest.raises(DomainError) as caught:
        services.minutes_save(
            net.primary, conference.pk, item=item.pk, occurrence=conference.starts_at,
            summary="x", next_steps=[{"text": "y", "owner": net.stranger.pk, "due": "2027-01-01"}],
        )  # fmt: skip
    assert "参加者" in _fields(caught)["next_steps"][0]
