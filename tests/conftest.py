"""Shared fixtures: the named personas of one care team, and API clients.

The team of `patient`: `primary` (physician, lead clinic), `secondary` (physician, another
clinic), `nurse` (visiting-nurse station), `pharmacist`. `coordinator` coordinates the network
but is on no team. `outsider` works at the lead clinic, beside the primary physician, and is
not on the team. `stranger` belongs to another network.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test.client import ClientMixin
from rest_framework.test import APIClient

from messaging import publish
from messaging import requests as messaging_requests
from messaging import services as messaging_services
from patients.models import CareRole, CareTeamMember, Patient, Problem
from teams import sessions
from teams.models import Organization, OrganizationKind, Profession, User
from tests.factories import (
    CareTeamMemberFactory,
    ConsentFactory,
    MembershipFactory,
    NetworkFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)


@dataclass
class Network:
    lead_clinic: Organization
    clinic: Organization
    station: Organization
    pharmacy: Organization
    other_clinic: Organization
    primary: User
    secondary: User
    nurse: User
    pharmacist: User
    coordinator: User
    outsider: User
    stranger: User
    patient: Patient


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, django_db_blocker: Any
) -> None:
    """Before the test database is made anew: end the sessions still open on it. A run killed
    outright (SIGKILL) leaves the browser tests' Daphne behind, connected to it, and
    PostgreSQL refuses to drop a database in use, so the next run would fail to start."""
    from django.db import connection

    test_name = connection.settings_dict["TEST"].get("NAME") or (
        f"test_{connection.settings_dict['NAME']}"
    )
    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [test_name],
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, made anew each run (no --reuse-db, see pyproject.toml)
    and dropped at the end. Sessions that other threads of this process opened on it (the
    browser tests' ORM calls run beside Playwright's loop) are ended first: PostgreSQL refuses
    to drop a database in use, and the run would end on a warning."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session", autouse=True)
def _connections_closed_after_each_request() -> None:
    """Tests close the database connection after each request, as Django's own test client
    does: a connection kept from one test would meet the next test's database blocker. The
    kept connection itself is tested in tests/test_database.py."""
    from django.db import connections

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _cache_cleared() -> None:
    """Each test starts with an empty cache: no sign-in lock, no failure count and no rate
    bucket left by an earlier test (or an earlier run: the Redis database outlives it), so a
    test that signs in or posts a lot never meets another's throttle (teams.throttle)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _no_server_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts outside a server: a socket test names its own event loop as the
    server's (`messaging.publish.serve_on`), which must not outlive that test."""
    monkeypatch.setattr(publish, "_server_loop", None)
    monkeypatch.setattr(publish, "_outbox", None)


@pytest.fixture
def net(db: None) -> Network:
    lead = OrganizationFactory(name="みどり在宅クリニック", kind=OrganizationKind.CLINIC)
    clinic = OrganizationFactory(name="さくら診療所", kind=OrganizationKind.CLINIC)
    station = OrganizationFactory(
        name="ひまわり訪問看護ステーション", kind=OrganizationKind.NURSING_STATION
    )
    pharmacy = OrganizationFactory(name="あおば薬局", kind=OrganizationKind.PHARMACY)
    other_clinic = OrganizationFactory(name="遠方クリニック", kind=OrganizationKind.CLINIC)
    network = NetworkFactory(name="中央区在宅ネットワーク")
    network.organizations.add(lead, clinic, station, pharmacy)
    other_network = NetworkFactory(name="北区在宅ネットワーク")
    other_network.organizations.add(other_clinic)

    def person(username: str, name: str, profession: str, org: Organization) -> User:
        user = UserFactory(username=username, display_name=name, profession=profession)
        MembershipFactory(user=user, organization=org)
        return user

    primary = person("primary", "山田 太郎", Profession.PHYSICIAN, lead)
    secondary = person("secondary", "佐藤 花子", Profession.PHYSICIAN, clinic)
    nurse = person("nurse", "鈴木 恵", Profession.NURSE, station)
    pharmacist = person("pharmacist", "高橋 健", Profession.PHARMACIST, pharmacy)
    coordinator = person("coordinator", "田中 陽子", Profession.CARE_MANAGER, lead)
    network.coordinators.add(coordinator)
    outsider = person("outsider", "伊藤 誠", Profession.NURSE, lead)
    stranger = person("stranger", "渡辺 修", Profession.PHYSICIAN, other_clinic)

    patient = PatientFactory(
        name="小林 ハル", name_kana="こばやし はる", managing_organization=lead
    )
    ConsentFactory(patient=patient, recorded_by=primary)
    CareTeamMemberFactory(
        patient=patient, user=primary, role=CareRole.PRIMARY_PHYSICIAN, organization=lead
    )
    CareTeamMemberFactory(
        patient=patient, user=secondary, role=CareRole.SECONDARY_PHYSICIAN, organization=clinic
    )
    CareTeamMemberFactory(
        patient=patient, user=nurse, role=CareRole.VISITING_NURSE, organization=station
    )
    CareTeamMemberFactory(
        patient=patient, user=pharmacist, role=CareRole.PHARMACIST, organization=pharmacy
    )
    return Network(
        lead_clinic=lead,
        clinic=clinic,
        station=station,
        pharmacy=pharmacy,
        other_clinic=other_clinic,
        primary=primary,
        secondary=secondary,
        nurse=nurse,
        pharmacist=pharmacist,
        coordinator=coordinator,
        outsider=outsider,
        stranger=stranger,
        patient=patient,
    )


@pytest.fixture(autouse=True)
def force_login_passes_the_second_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test client's `force_login` stands for a whole sign-in, second factor included.

    It already skips the password; tests of the sign-in itself go through the forms
    (tests/signin.py), where the second factor is required as it is for everyone."""
    original = ClientMixin._login

    def login_both_steps(self: Any, user: Any, backend: Any = None) -> None:
        original(self, user, backend)
        session = self.session
        sessions.mark_second_factor(session, "tests.force_login")
        session.save()

    monkeypatch.setattr(ClientMixin, "_login", login_both_steps)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def api_as(api: APIClient):
    """`api_as(user)` returns the API client logged in as that user."""

    def login(user: User) -> APIClient:
        api.force_authenticate(user=user)
        return api

    return login


@pytest.fixture
def api_objects(net: Network) -> dict[str, Any]:
    """A value for every path parameter of the API: objects `net.primary` may change."""
    net.primary.is_staff = True  # may also write the directory
    net.primary.save()
    book = messaging_services.contact_book_ensure(net.patient)
    messaging_services.message_post(
        net.primary, thread=book.pk, client_id=uuid.uuid4(), body="本日訪問しました。"
    )
    problem = Problem.objects.create(patient=net.patient, name="高血圧", updated_by=net.primary)
    asked = messaging_requests.request_create(
        net.nurse, thread=book.pk, client_id=uuid.uuid4(), body="往診をお願いします",
        to_role=CareRole.PRIMARY_PHYSICIAN,
    )  # fmt: skip
    return {
        "request_id": asked.pk,
        "month": "2027-01",
        "patient_id": net.patient.pk,
        "thread_id": book.pk,
        "seq": 1,
        "item_id": problem.pk,
        "member_id": CareTeamMember.objects.filter(patient=net.patient).first().pk,
        "id": net.lead_clinic.pk,
    }
