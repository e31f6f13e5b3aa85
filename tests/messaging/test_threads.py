"""Threads: one contact book per patient, topic and coordination threads, and who sees them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from config.errors import NotFound
from messaging.access import access_thread, thread_member_ids, threads_visible_to
from messaging.models import Thread, ThreadKind
from messaging.services import (
    contact_book_ensure,
    thread_create_coordination,
    thread_create_topic,
)
from patients.models import Consent
from teams.models import Membership
from tests.factories import CareTeamMemberFactory, NetworkFactory

pytestmark = pytest.mark.django_db


def test_contact_book_ensure_makes_the_thread_once(net):
    first = contact_book_ensure(net.patient)
    second = contact_book_ensure(net.patient)
    assert first == second
    assert first.kind == ThreadKind.CONTACT_BOOK
    assert Thread.objects.filter(patient=net.patient, kind="contact_book").count() == 1


def test_database_refuses_a_second_contact_book(book, net):
    with pytest.raises(IntegrityError), transaction.atomic():
        Thread.objects.create(kind=ThreadKind.CONTACT_BOOK, patient=net.patient)


def test_database_refuses_a_topic_thread_without_title(net):
    with pytest.raises(IntegrityError), transaction.atomic():
        Thread.objects.create(kind=ThreadKind.TOPIC, patient=net.patient, title="")


def test_database_refuses_a_coordination_thread_tied_to_a_patient(net):
    with pytest.raises(IntegrityError), transaction.atomic():
        Thread.objects.create(
            kind=ThreadKind.COORDINATION,
            patient=net.patient,
            organization=net.lead_clinic,
            title="x",
        )


def test_team_member_creates_a_topic_thread_over_the_api(api_as, net):
    url = reverse("messaging:patient-thread-list", kwargs={"patient_id": net.patient.pk})
    res = api_as(net.nurse).post(url, {"title": "褥瘡ケア"}, format="json")
    assert res.status_code == 201
    thread = Thread.objects.get(pk=res.json()["id"])
    assert (thread.kind, thread.title, thread.patient) == ("topic", "褥瘡ケア", net.patient)
    assert AuditEvent.objects.filter(
        actor=net.nurse, action="create", patient_id=net.patient.pk
    ).exists()


def test_topic_thread_needs_a_title(api_as, net):
    url = reverse("messaging:patient-thread-list", kwargs={"patient_id": net.patient.pk})
    res = api_as(net.nurse).post(url, {"title": "  "}, format="json")
    assert res.status_code == 400
    assert "title" in res.json()["error"]["fields"]


def test_patient_threads_lists_contact_book_and_topics(api_as, net, book):
    thread_create_topic(net.primary, patient_id=net.patient.pk, title="退院調整")
    url = reverse("messaging:patient-thread-list", kwargs={"patient_id": net.patient.pk})
    res = api_as(net.pharmacist).get(url)
    assert res.status_code == 200
    assert sorted(t["kind"] for t in res.json()["results"]) == ["contact_book", "topic"]


@pytest.mark.parametrize("persona", ["outsider", "coordinator", "stranger"])
def test_outsiders_get_404_on_patient_threads(api_as, net, book, persona):
    url = reverse("messaging:patient-thread-list", kwargs={"patient_id": net.patient.pk})
    client = api_as(getattr(net, persona))
    assert client.get(url).status_code == 404
    assert client.post(url, {"title": "x"}, format="json").status_code == 404


def test_team_sees_the_contact_book_and_outsiders_do_not(net, book):
    for user in (net.primary, net.secondary, net.nurse, net.pharmacist):
        assert list(threads_visible_to(user)) == [book]
    for user in (net.outsider, net.coordinator, net.stranger):
        assert list(threads_visible_to(user)) == []
        with pytest.raises(NotFound):
            access_thread(user, book.pk)


def test_garbage_thread_id_is_not_found(net):
    with pytest.raises(NotFound):
        access_thread(net.primary, "1; drop table")


def test_organization_thread_is_seen_by_its_active_members_only(net):
    thread = thread_create_coordination(
        net.primary, title="院内連絡", organization_id=net.lead_clinic.pk
    )
    assert access_thread(net.outsider, thread.pk) == thread
    assert access_thread(net.coordinator, thread.pk) == thread
    with pytest.raises(NotFound):
        access_thread(net.nurse, thread.pk)
    Membership.objects.filter(user=net.outsider).update(is_active=False)
    with pytest.raises(NotFound):
        access_thread(net.outsider, thread.pk)


def test_network_thread_is_seen_by_member_organizations_and_coordinators(net):
    network = net.lead_clinic.networks.get()
    thread = thread_create_coordination(net.coordinator, title="夜間輪番", network_id=network.pk)
    for user in (net.primary, net.nurse, net.pharmacist, net.coordinator):
        assert access_thread(user, thread.pk) == thread
    with pytest.raises(NotFound):
        access_thread(net.stranger, thread.pk)
    assert net.stranger.pk not in thread_member_ids(thread)
    assert net.nurse.pk in thread_member_ids(thread)


def test_coordination_thread_over_the_api_for_a_foreign_org_is_404(api_as, net):
    res = api_as(net.nurse).post(
        reverse("messaging:thread-list"),
        {"title": "連絡", "organization": net.lead_clinic.pk},
        format="json",
    )
    assert res.status_code == 404


def test_coordination_thread_needs_exactly_one_scope(api_as, net):
    network = NetworkFactory()
    res = api_as(net.primary).post(
        reverse("messaging:thread-list"),
        {"title": "連絡", "organization": net.lead_clinic.pk, "network": network.pk},
        format="json",
    )
    assert res.status_code == 400


def test_member_opens_an_organization_thread_over_the_api(api_as, net):
    res = api_as(net.nurse).post(
        reverse("messaging:thread-list"),
        {"title": "ステーション内", "organization": net.station.pk},
        format="json",
    )
    assert res.status_code == 201
    assert res.json()["organization"] == {"id": net.station.pk, "name": net.station.name}


def test_thread_members_are_the_current_active_team(net, book):
    assert thread_member_ids(book) == sorted(
        [net.primary.pk, net.secondary.pk, net.nurse.pk, net.pharmacist.pk]
    )


def test_thread_members_leave_out_ended_future_and_inactive_places(net, book):
    today = timezone.localdate()
    # An ended place, a place that starts tomorrow, and an inactive user: none receive.
    CareTeamMemberFactory(patient=net.patient, user=net.outsider, ended=True)
    CareTeamMemberFactory(
        patient=net.patient, user=net.coordinator, start_date=today + dt.timedelta(days=1)
    )
    CareTeamMemberFactory(patient=net.patient, user=net.stranger, end_date=today)
    net.stranger.is_active = False
    net.stranger.save(update_fields=["is_active"])
    assert thread_member_ids(book) == sorted(
        [net.primary.pk, net.secondary.pk, net.nurse.pk, net.pharmacist.pk]
    )


def test_thread_members_are_only_the_primary_while_consent_is_withdrawn(net, book):
    Consent.objects.filter(patient=net.patient).update(withdrawn_at=timezone.now())
    assert thread_member_ids(book) == [net.primary.pk]
