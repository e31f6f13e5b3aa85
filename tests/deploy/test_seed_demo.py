"""`manage.py seed_demo`: a realistic demo network that a second run leaves exactly as it was."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from audit.models import AuditEvent
from messaging.management.commands.seed_demo import DEMO_PASSWORD, KEY_LOGINS, NETWORK_NAME
from messaging.models import Message, ReadState, Thread
from patients.access import active_team, patients_visible_to
from patients.models import (
    Allergy,
    CareRole,
    CareTeamMember,
    CareWish,
    Consent,
    EmergencyContact,
    MedicalDevice,
    Medication,
    Patient,
    Problem,
    RecordChange,
)
from teams.models import (
    CapabilityCode,
    Membership,
    Network,
    Organization,
    OrganizationKind,
    Profession,
    User,
)

pytestmark = pytest.mark.django_db

COUNTED = [
    Organization,
    User,
    Membership,
    Network,
    Patient,
    Consent,
    CareTeamMember,
    Problem,
    Medication,
    Allergy,
    MedicalDevice,
    EmergencyContact,
    CareWish,
    RecordChange,
    Thread,
    Message,
    ReadState,
    AuditEvent,
]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_running_seed_demo_twice_leaves_the_same_rows():
    seed()
    first = counts()
    first_passwords = dict(User.objects.values_list("username", "password"))

    seed()

    assert counts() == first
    assert dict(User.objects.values_list("username", "password")) == first_passwords


def test_twenty_patients_each_have_one_active_primary_and_one_secondary_physician():
    seed()

    assert Patient.objects.count() == 20
    for patient in Patient.objects.all():
        team = active_team(patient).select_related("user", "organization")
        primaries = [m for m in team if m.role == CareRole.PRIMARY_PHYSICIAN]
        secondaries = [m for m in team if m.role == CareRole.SECONDARY_PHYSICIAN]
        assert len(primaries) == 1, patient
        assert len(secondaries) == 1, patient
        assert primaries[0].user.profession == Profession.PHYSICIAN
        assert secondaries[0].user.profession == Profession.PHYSICIAN
        assert primaries[0].organization != secondaries[0].organization
        assert primaries[0].organization.kind == OrganizationKind.CLINIC
        assert secondaries[0].organization.kind == OrganizationKind.CLINIC


def test_every_patient_has_consent_a_nurse_pharmacist_care_manager_and_a_key_person():
    seed()

    for patient in Patient.objects.all():
        roles = set(active_team(patient).values_list("role", flat=True))
        assert {CareRole.VISITING_NURSE, CareRole.PHARMACIST, CareRole.CARE_MANAGER} <= roles
        assert Consent.objects.filter(patient=patient, withdrawn_at__isnull=True).count() == 1
        contacts = EmergencyContact.objects.filter(patient=patient)
        assert contacts.filter(is_key_person=True).count() == 1
        assert Thread.objects.filter(patient=patient, kind="contact_book").count() == 1


def test_network_has_the_lead_clinic_backup_hospital_stations_pharmacy_and_care_office():
    seed()

    network = Network.objects.get(name=NETWORK_NAME)
    kinds = list(network.organizations.values_list("kind", flat=True))
    assert kinds.count(OrganizationKind.CLINIC) == 4
    assert kinds.count(OrganizationKind.HOSPITAL) == 1
    assert kinds.count(OrganizationKind.NURSING_STATION) == 2
    assert kinds.count(OrganizationKind.PHARMACY) == 1
    assert kinds.count(OrganizationKind.CARE_MANAGEMENT) == 1
    hospital = network.organizations.get(kind=OrganizationKind.HOSPITAL)
    assert hospital.capabilities.filter(code=CapabilityCode.EMERGENCY_ADMISSION).exists()
    pharmacy = network.organizations.get(kind=OrganizationKind.PHARMACY)
    assert pharmacy.capabilities.filter(code=CapabilityCode.ASEPTIC_COMPOUNDING).exists()
    assert network.coordinators.count() == 1


def test_people_cover_the_professions_and_one_lead_clinic_administrator():
    seed()

    people = User.objects.filter(memberships__organization__networks__name=NETWORK_NAME)
    professions = set(people.values_list("profession", flat=True))
    assert 22 <= people.count() <= 30
    assert set(Profession.values) - professions == {Profession.OTHER}
    assert all(u.name_kana for u in people)
    admins = Membership.objects.filter(is_admin=True)
    assert admins.count() == 1
    assert "在宅" in admins.get().organization.name


def test_shared_record_items_have_history_and_wishes_name_the_backup_hospital():
    seed()

    assert Problem.objects.exists()
    assert Medication.objects.exists()
    assert Allergy.objects.exists()
    assert MedicalDevice.objects.exists()
    items = sum(m.objects.count() for m in (Problem, Medication, Allergy, MedicalDevice))
    items += EmergencyContact.objects.count()
    assert RecordChange.objects.filter(action="create").count() == items
    yellow = CareWish.objects.filter(kind="yellow")
    assert yellow.exists()
    assert all(w.hospital and w.hospital.kind == OrganizationKind.HOSPITAL for w in yellow)
    assert CareWish.objects.filter(kind="green").exists()


def test_demo_logins_work_with_the_printed_password_and_see_their_patients():
    output = seed()

    assert DEMO_PASSWORD in output
    for username, _role in KEY_LOGINS:
        assert username in output
        assert authenticate(username=username, password=DEMO_PASSWORD) is not None
    primary = User.objects.get(username="dr.yamada")
    nurse = User.objects.get(username="nurse.suzuki")
    assert patients_visible_to(primary).count() >= 4
    assert patients_visible_to(nurse).count() >= 4


def test_seed_demo_brings_back_a_changed_record_item_with_one_history_row():
    seed()
    problem = Problem.objects.exclude(onset_date=None).order_by("id").first()
    onset = problem.onset_date
    Problem.objects.filter(pk=problem.pk).update(onset_date=None)

    seed()
    seed()

    problem.refresh_from_db()
    assert problem.onset_date == onset
    updates = RecordChange.objects.filter(item_type="problems", item_id=problem.pk, action="update")
    assert updates.count() == 1
    assert updates.get().snapshot["onset_date"] == onset.isoformat()


def test_every_contact_book_opens_with_a_short_exchange_in_seq_order():
    seed()
    seed()
    for thread in Thread.objects.all():
        seqs = list(thread.messages.values_list("seq", flat=True))
        assert seqs == [1, 2, 3, 4]
        assert thread.last_seq == 4


def test_the_clinics_physicians_are_registered_for_home_care_referrals():
    call_command("seed_demo", stdout=io.StringIO())
    from teams.models import PhysicianRegistration

    registered = PhysicianRegistration.objects.filter(accepting=True)
    assert registered.count() == 5
    assert all("中央区" in r.areas for r in registered)
