"""Factories for the shared record, wishes and grants, used by the patients tests."""

from __future__ import annotations

from typing import Any

import factory

from patients.models import (
    Allergy,
    CareWish,
    EmergencyContact,
    MedicalDevice,
    Medication,
    Patient,
    Problem,
    WishKind,
)
from teams.models import User
from tests.factories import PatientFactory, UserFactory


class ProblemFactory(factory.django.DjangoModelFactory[Problem]):
    class Meta:
        model = Problem

    patient = factory.SubFactory(PatientFactory)
    updated_by = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"慢性心不全{n}")


class MedicationFactory(factory.django.DjangoModelFactory[Medication]):
    class Meta:
        model = Medication

    patient = factory.SubFactory(PatientFactory)
    updated_by = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"フロセミド錠{n}")
    dose = "20mg 1日1回 朝食後"


class AllergyFactory(factory.django.DjangoModelFactory[Allergy]):
    class Meta:
        model = Allergy

    patient = factory.SubFactory(PatientFactory)
    updated_by = factory.SubFactory(UserFactory)
    substance = factory.Sequence(lambda n: f"ペニシリン{n}")


class MedicalDeviceFactory(factory.django.DjangoModelFactory[MedicalDevice]):
    class Meta:
        model = MedicalDevice

    patient = factory.SubFactory(PatientFactory)
    updated_by = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"在宅酸素濃縮器{n}")


class EmergencyContactFactory(factory.django.DjangoModelFactory[EmergencyContact]):
    class Meta:
        model = EmergencyContact

    patient = factory.SubFactory(PatientFactory)
    updated_by = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"小林 一郎{n}")
    relationship = "長男"
    phone = "090-0000-0000"


class CareWishFactory(factory.django.DjangoModelFactory[CareWish]):
    class Meta:
        model = CareWish

    patient = factory.SubFactory(PatientFactory)
    recorded_by = factory.SubFactory(UserFactory)
    kind = WishKind.GREEN
    preference = "自宅で最期を迎えたい"


RECORD_FACTORIES: dict[str, Any] = {
    "problems": ProblemFactory,
    "medications": MedicationFactory,
    "allergies": AllergyFactory,
    "devices": MedicalDeviceFactory,
    "contacts": EmergencyContactFactory,
}


def make_record(patient: Patient, user: User) -> dict[str, Any]:
    """One item of each record kind for the patient, by kind."""
    return {kind: make(patient=patient, updated_by=user) for kind, make in RECORD_FACTORIES.items()}
