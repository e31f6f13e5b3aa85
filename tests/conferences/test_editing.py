"""Editing a scheduled conference (title, place, invitees, agenda) and cancelling a whole
series in one action: who is told, who loses sight, and the gate checks of scheduling."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences import selectors, services
from conferences.access import access_conference
from conferences.models import AgendaItem, Attendance, Conference, Invitee
from config.errors import DomainError, Forbidden, NotFound
from notifications.models import Notice
from patients.models import ConferenceGrant
from tests.conferences.conftest import soon
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _fields(caught: pytest.ExceptionInfo[DomainError]) -> dict[str, list[str]]:
    return caught.value.fields


def _to(kind: str) -> list[int]:
    return sorted(Notice.objects.filter(kind=kind).values_list("recipient_id", flat=True))


def test_editing_the_title_and_place_tells_every_participant_once(net, schedule):
    conference = schedule(is_online=False, place="みどり在宅クリニック 2階")
    services.conference_edit(net.primary, conference.pk, title="1月の事例検討会", place="会議室A")
    conference.refresh_from_db()
    assert (conference.title, conference.place) == ("1月の事例検討会", "会議室A")
    assert _to("conference.changed") == sorted([net.primary.pk, net.nurse.pk, net.pharmacist.pk])
    body = Notice.objects.filter(kind="conference.changed").first().body
    assert "会議室A" in body
    assert "1月の事例検討会" in body
    # A second edit is a second notice; the same values again are no edit at all.
    services.conference_edit(net.primary, conference.pk, place="会議室B")
    services.conference_edit(net.primary, conference.pk, place="会議室B")
    assert Notice.objects.filter(kind="conference.changed", recipient=net.nurse).count() == 2


def test_an_empty_title_or_a_place_for_an_online_meeting_is_a_field_error(net, schedule):
    conference = schedule()
    with pytest.raises(DomainError) as caught:
        services.conference_edit(net.primary, conference.pk, title=" ", place="会議室A")
    assert set(_fields(caught)) == {"title", "place"}


def test_only_the_organizer_edits_and_outsiders_get_not_found(net, schedule):
    conference = schedule()
    with pytest.raises(Forbidden):
        services.conference_edit(net.nurse, conference.pk, title="乗っ取り")
    with pytest.raises(NotFound):
        services.invitees_change(net.stranger, conference.pk, add=[net.stranger.pk])


def test_added_invitees_get_the_invitation_and_see_the_conference(net, schedule):
    conference = schedule()
    Notice.objects.all().delete()
    change = services.invitees_change(net.primary, conference.pk, add=[net.secondary.pk])
    assert change.added == [net.secondary.pk]
    assert access_conference(net.secondary, conference.pk) == conference
    assert _to("conference.invited") == [net.secondary.pk]


def test_inviting_an_organization_adds_its_members_who_are_not_yet_invited(net, schedule):
    conference = schedule(invitees=[net.nurse.pk])
    change = services.invitees_change(
        net.primary, conference.pk, add_organizations=[net.lead_clinic.pk, net.station.pk]
    )
    # The organizer and the nurse (already invited) are not added again.
    assert change.added == sorted([net.coordinator.pk, net.outsider.pk])


def test_removed_invitees_lose_sight_and_the_room_and_are_told(net, schedule):
    conference = schedule(starts_at=soon(10), agenda=[])
    key = conference.starts_at
    room = services.room_name(conference.pk, key)
    services.room_join(net.pharmacist, room=room, channel="chan-ph")
    services.invitees_change(net.primary, conference.pk, remove=[net.pharmacist.pk])
    with pytest.raises(NotFound):
        access_conference(net.pharmacist, conference.pk)
    assert Attendance.objects.get(user=net.pharmacist).left_at is not None
    with pytest.raises(services.RoomError):
        services.room_sender(net.pharmacist, room=room, channel="chan-ph")
    with pytest.raises(NotFound):
        services.room_join(net.pharmacist, room=room, channel="chan-ph2")
    notice = Notice.objects.get(kind="conference.uninvited")
    assert notice.recipient_id == net.pharmacist.pk
    assert notice.url == "/conferences/"


def test_people_outside_the_network_cannot_be_added(net, schedule):
    conference = schedule()
    with pytest.raises(DomainError) as caught:
        services.invitees_change(net.primary, conference.pk, add=[net.stranger.pk])
    assert "ネットワーク外" in _fields(caught)["add"][0]
    assert not Invitee.objects.filter(conference=conference, user=net.stranger).exists()


def test_a_presenter_cannot_be_removed_before_the_presenter_changes(net, schedule):
    conference = schedule()
    with pytest.raises(DomainError) as caught:
        services.invitees_change(net.primary, conference.pk, remove=[net.nurse.pk])
    assert "発表者" in _fields(caught)["remove"][0]
    item = AgendaItem.objects.get(conference=conference)
    services.agenda_item_edit(net.primary, conference.pk, item=item.pk, presenter=net.pharmacist.pk)
    services.invitees_change(net.primary, conference.pk, remove=[net.nurse.pk])
    assert not Invitee.objects.filter(conference=conference, user=net.nurse).exists()


def test_an_agenda_patient_can_be_added_edited_and_removed_with_a_notice_each(net, schedule):
    conference = schedule(agenda=[])
    other = PatientFactory(name="森 ミツ", managing_organization=net.lead_clinic)

    ConsentFactory(patient=other, recorded_by=net.primary)
    CareTeamMemberFactory(patient=other, user=net.primary, organization=net.lead_clinic)
    item = services.agenda_item_add(
        net.primary, conference.pk, patient=other.pk, presenter=net.nurse.pk, question="看取り"
    )
    services.agenda_item_edit(net.primary, conference.pk, item=item.pk, question="家族支援")
    assert AgendaItem.objects.get(pk=item.pk).question == "家族支援"
    services.agenda_item_remove(net.primary, conference.pk, item=item.pk)
    assert not AgendaItem.objects.filter(conference=conference).exists()
    notices = Notice.objects.filter(kind="conference.agenda", recipient=net.pharmacist)
    assert notices.count() == 3
    # The notices never name the patient.
    assert all(str(other.name) not in n.title + n.body for n in notices)


def test_a_patient_the_organizer_cannot_see_cannot_be_added(net, schedule):
    conference = schedule(agenda=[])
    hidden = PatientFactory(name="秘密 患者", managing_organization=net.other_clinic)
    with pytest.raises(DomainError) as caught:
        services.agenda_item_add(net.primary, conference.pk, patient=hidden.pk, question="?")
    assert "閲覧できる患者のみ" in _fields(caught)["agenda"][0]
    assert str(hidden.name) not in str(_fields(caught))
    with pytest.raises(DomainError):
        services.agenda_item_add(net.primary, conference.pk, patient=net.patient.pk, question="")


def test_the_same_patient_twice_or_a_presenter_not_invited_is_refused(net, schedule):
    conference = schedule()
    with pytest.raises(DomainError) as caught:
        services.agenda_item_add(net.primary, conference.pk, patient=net.patient.pk, question="?")
    assert "すでに議題" in _fields(caught)["agenda"][0]
    item = AgendaItem.objects.get(conference=conference)
    with pytest.raises(DomainError) as caught:
        services.agenda_item_edit(
            net.primary, conference.pk, item=item.pk, presenter=net.secondary.pk
        )
    assert "presenter" in _fields(caught)


def test_removing_a_discharge_guest_ends_their_grant(net, schedule, hospital_nurse):
    start = soon(20)
    agenda = [{"patient": net.patient.pk, "presenter": net.nurse.pk, "question": "退院調整"}]
    conference = schedule(
        kind="discharge", starts_at=start, invitees=[hospital_nurse.pk, net.nurse.pk], agenda=agenda
    )
    assert ConferenceGrant.objects.get(user=hospital_nurse).ends_at > timezone.now()
    services.invitees_change(net.primary, conference.pk, remove=[hospital_nurse.pk])
    assert ConferenceGrant.objects.get(user=hospital_nurse).ends_at <= timezone.now()


def test_an_added_discharge_guest_gets_the_meeting_window(net, schedule, hospital_nurse):
    start = soon(20)
    conference = schedule(kind="discharge", starts_at=start)
    services.invitees_change(net.primary, conference.pk, add=[hospital_nurse.pk])
    grant = ConferenceGrant.objects.get(user=hospital_nurse, patient=net.patient)
    assert grant.ends_at == start + dt.timedelta(hours=1, minutes=30)


# --- a whole series -------------------------------------------------------------------------


def _monthly(schedule):
    return schedule(starts_at=soon(60 * 24 * 3), recurrence_rule="FREQ=MONTHLY;COUNT=6", agenda=[])


def test_cancelling_a_series_from_an_occurrence_on_notifies_each_person_once(net, schedule):
    conference = _monthly(schedule)
    now = timezone.now()
    occurrences = selectors.occurrence_list(conference, after=now)
    cancelled = services.series_cancel(
        net.primary, conference.pk, from_occurrence=occurrences[2].key.isoformat()
    )
    assert cancelled == 4
    left = selectors.occurrence_list(conference, after=now)
    assert [o.key for o in left] == [o.key for o in occurrences[:2]]
    assert _to("conference.cancelled") == sorted([net.primary.pk, net.nurse.pk, net.pharmacist.pk])
    conference.refresh_from_db()
    assert conference.cancelled_at is None


def test_cancelling_all_of_a_series_takes_it_off_the_calendars(net, schedule):
    conference = _monthly(schedule)
    services.occurrence_move(
        net.primary,
        conference.pk,
        occurrence=conference.starts_at,
        starts_at=conference.starts_at + dt.timedelta(hours=1),
        ends_at=conference.ends_at + dt.timedelta(hours=1),
    )
    Notice.objects.all().delete()
    assert services.series_cancel(net.primary, conference.pk) == 6
    conference.refresh_from_db()
    assert conference.cancelled_at is not None
    assert not selectors.occurrence_list(conference, after=timezone.now())
    far = timezone.now() + dt.timedelta(days=400)
    assert not selectors.occurrences_for(net.nurse, after=timezone.now(), before=far)
    assert Notice.objects.filter(kind="conference.cancelled", recipient=net.nurse).count() == 1
    with pytest.raises(Forbidden):
        services.series_cancel(net.primary, conference.pk)


def test_cancelling_a_series_keeps_what_was_held(net, schedule):
    start = (timezone.now() - dt.timedelta(days=8)).replace(microsecond=0)
    conference = schedule(starts_at=start, recurrence_rule="FREQ=WEEKLY;COUNT=4", agenda=[])
    assert services.series_cancel(net.primary, conference.pk) == 2
    conference.refresh_from_db()
    # Two meetings took place: the conference stays, with them, on the calendar.
    assert conference.cancelled_at is None
    held = selectors.occurrence_list(conference, after=start - dt.timedelta(days=1))
    assert [o.key for o in held] == [start, start + dt.timedelta(days=7)]


def test_an_invitee_cannot_cancel_a_series_and_a_bad_occurrence_is_a_field_error(net, schedule):
    conference = _monthly(schedule)
    with pytest.raises(Forbidden):
        services.series_cancel(net.nurse, conference.pk)
    with pytest.raises(DomainError) as caught:
        services.series_cancel(net.primary, conference.pk, from_occurrence="2031-13-01")
    assert "occurrence" in _fields(caught)
    assert Conference.objects.get(pk=conference.pk).cancelled_at is None


def test_an_invitee_change_that_changes_nothing_notifies_nobody(net, schedule):
    conference = schedule()
    Notice.objects.all().delete()
    change = services.invitees_change(net.primary, conference.pk, add=[net.nurse.pk])
    assert (change.added, change.removed) == ([], [])
    assert not Notice.objects.exists()
    conference.refresh_from_db()
    assert conference.revision == 1
