"""A patient's contact book comes with the patient, and break glass is announced there."""

from __future__ import annotations

import pytest

from messaging.models import Message, Thread, ThreadKind
from patients import services

pytestmark = pytest.mark.django_db


def test_creating_a_patient_creates_its_contact_book_thread(net):
    patient = services.patient_create(
        net.primary,
        name="新井 トメ",
        name_kana="あらい とめ",
        date_of_birth="1938-05-05",
        sex="female",
        care_level="care_3",
        status="at_home",
        managing_organization_id=net.lead_clinic.pk,
        primary_physician_id=net.primary.pk,
    )
    assert Thread.objects.filter(patient=patient, kind=ThreadKind.CONTACT_BOOK).count() == 1


def test_break_glass_is_announced_in_the_contact_book_with_the_reason(net):
    services.break_glass_open(
        net.stranger, net.patient.pk, reason="救急外来で既往歴の確認が必要 @nurse", hours=2
    )
    message = Message.objects.get(thread__patient=net.patient)
    assert message.author == net.stranger
    assert "緊急アクセス" in message.body
    assert "救急外来で既往歴の確認が必要 ＠nurse" in message.body
