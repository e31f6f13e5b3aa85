"""The hand-off card: what someone called in reads first, on one page; the on-call physician
reached by an escalation reads it while the grant lasts, and not after (issue 13, item 3)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from messaging import services
from patients.models import Allergy, EmergencyContact, EscalationGrant, Medication, Problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(net):
    Problem.objects.create(patient=net.patient, name="心不全", updated_by=net.primary)
    Medication.objects.create(
        patient=net.patient, name="フロセミド錠", dose="20mg 朝", updated_by=net.primary
    )
    Allergy.objects.create(patient=net.patient, substance="ペニシリン", updated_by=net.primary)
    EmergencyContact.objects.create(
        patient=net.patient, name="小林 一郎", relationship="長男", phone="090-1234-5678",
        is_key_person=True, updated_by=net.primary,
    )  # fmt: skip
    book = services.contact_book_ensure(net.patient)
    services.message_post(net.nurse, thread=book.pk, client_id=uuid.uuid4(), body="SpO2 91%")


def test_the_team_sees_the_whole_card(net, record, client):
    client.force_login(net.nurse)
    page = client.get(f"/patients/{net.patient.pk}/handoff/")
    assert page.status_code == 200
    text = page.content.decode()
    expected = ("心不全", "フロセミド錠 20mg 朝", "ペニシリン", "キーパーソン", "090-1234-5678",
                "山田 太郎", "SpO2 91%", "css/handoff.css")  # fmt: skip
    for part in expected:
        assert part in text


def test_an_outsider_gets_404(net, record, client):
    client.force_login(net.outsider)
    assert client.get(f"/patients/{net.patient.pk}/handoff/").status_code == 404


def test_an_on_call_physician_reads_it_during_the_grant_and_not_after(net, record, client):
    grant = EscalationGrant.objects.create(
        patient=net.patient, user=net.stranger, reason="緊急依頼 #1 (当番医)", request_ref=1
    )
    client.force_login(net.stranger)
    assert client.get(f"/patients/{net.patient.pk}/handoff/").status_code == 200
    grant.ends_at = timezone.now() - dt.timedelta(seconds=1)
    grant.save()
    assert client.get(f"/patients/{net.patient.pk}/handoff/").status_code == 404


def test_the_patient_page_lists_who_reads_through_an_escalation(net, client):
    EscalationGrant.objects.create(
        patient=net.patient, user=net.stranger, reason="緊急依頼 #1 (当番医)", request_ref=1
    )
    client.force_login(net.nurse)
    text = client.get(f"/patients/{net.patient.pk}/").content.decode()
    assert 'data-user="stranger"' in text
    assert "緊急依頼 #1 (当番医)" in text
