"""Fixtures of the bounded load and fault runs (`make test-load`, marker `load`).

These tests start their own redis-server and Daphne processes against pytest-django's test
database, so their data must be committed: `load_team` writes it with the database blocker
lifted and removes it afterwards (audit rows by TRUNCATE, as the browser tests do).

They are slow and kill processes on purpose, so they run only when asked for with
`-m load`; a plain `pytest` run skips them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from bench.clients import totp_key
from messaging.models import Message, ReadState, Thread
from messaging.services import contact_book_ensure
from patients.models import CareRole, CareTeamMember, Consent, Patient
from teams import services as team_services
from teams.models import ApiToken, Membership, Organization, OrganizationKind, Profession, User
from tests.factories import (
    PASSWORD,
    CareTeamMemberFactory,
    ConsentFactory,
    MembershipFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the load tests unless the run selects the `load` marker (`-m load`)."""
    if "load" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="load test: run with `make test-load` (pytest -m load)")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and item.get_closest_marker("load"):
            item.add_marker(skip)


@dataclass
class LoadTeam:
    token: str
    users: list[User]
    tokens: list[str]
    patient: Patient
    thread: Thread
    organizations: list[Organization]
    database_url: str


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _build(run: str, clients: int) -> LoadTeam:
    clinic = OrganizationFactory.create(name=f"負荷診療所-{run}", kind=OrganizationKind.CLINIC)
    station = OrganizationFactory.create(
        name=f"負荷訪問看護-{run}", kind=OrganizationKind.NURSING_STATION
    )
    primary = UserFactory.create(username=f"load-primary-{run}", profession=Profession.PHYSICIAN)
    MembershipFactory.create(user=primary, organization=clinic)
    patient = PatientFactory.create(name="負荷 試験", managing_organization=clinic)
    ConsentFactory.create(patient=patient, recorded_by=primary)
    CareTeamMemberFactory.create(
        patient=patient, user=primary, role=CareRole.PRIMARY_PHYSICIAN, organization=clinic
    )
    users = []
    for i in range(clients):
        user = UserFactory.create(username=f"load-{i:02d}-{run}")
        MembershipFactory.create(user=user, organization=station)
        CareTeamMemberFactory.create(patient=patient, user=user, role=CareRole.VISITING_NURSE)
        # The key the clients derive from the name (bench.clients.totp_key): they sign in
        # with the second factor as a person does.
        TOTPDevice.objects.create(user=user, name="authenticator", key=totp_key(user.username))
        users.append(user)
    tokens = [team_services.token_create(u)[1] for u in users]
    return LoadTeam(
        token=run,
        users=users,
        tokens=tokens,
        patient=patient,
        thread=contact_book_ensure(patient),
        organizations=[clinic, station],
        database_url=_database_url(),
    )


def _clean_up(team: LoadTeam) -> None:
    users = User.objects.filter(username__endswith=f"-{team.token}")
    steps: list[Any] = [
        lambda: _truncate_audit_rows(),
        lambda: Message.objects.filter(thread=team.thread).delete(),
        lambda: ReadState.objects.filter(thread=team.thread).delete(),
        lambda: Thread.objects.filter(pk=team.thread.pk).delete(),
        lambda: CareTeamMember.objects.filter(patient=team.patient).delete(),
        lambda: Consent.objects.filter(patient=team.patient).delete(),
        lambda: Patient.objects.filter(pk=team.patient.pk).delete(),
        lambda: ApiToken.objects.filter(user__in=users).delete(),
        lambda: Membership.objects.filter(user__in=users).delete(),
        lambda: users.delete(),
        lambda: Organization.objects.filter(pk__in=[o.pk for o in team.organizations]).delete(),
    ]
    for step in steps:
        try:
            step()
        except Exception as exc:  # leftovers are harmless: names carry the run's token
            print(f"load clean-up left rows behind: {exc!r}", file=sys.stderr)


def _truncate_audit_rows() -> None:
    """Audit rows are append-only (no DELETE); TRUNCATE is left open for test databases."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")


@pytest.fixture
def load_team(django_db_setup: None, django_db_blocker: Any) -> Iterator[LoadTeam]:
    """One patient with 20 nurses on its care team (plus the primary), committed."""
    if connection.vendor != "postgresql":
        pytest.skip("the load test needs PostgreSQL")
    run = uuid.uuid4().hex[:8]
    with django_db_blocker.unblock():
        team = _build(run, clients=20)
    yield team
    with django_db_blocker.unblock():
        _clean_up(team)


@pytest.fixture
def password() -> str:
    return PASSWORD
