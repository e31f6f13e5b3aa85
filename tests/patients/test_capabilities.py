"""Who may do what: `patients.access.POLICY`, cell by cell, against the services.

Each persona stands on the team of `net.patient` in one role (or administers its managing
organization, coordinates its network, holds a break-glass grant, or stands outside). For each
capability, the service that needs it is called as that persona, and the answer is the one this
file's own table expects: done (or refused for its input, past the gate), `Forbidden` (sees the
patient, may not do this) or `NotFound` (may not see it, may not do this). The table here is
written out by hand, not read from POLICY, so a change of the policy must change both; and
docs/access.md's table is read and held equal to POLICY.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from config.errors import DomainError, Forbidden, NotFound
from messaging import services as messaging_services
from patients import selectors, services
from patients.access import (
    COORDINATOR,
    ORG_ADMIN,
    POLICY,
    Capability,
    access_patient,
    capabilities_of,
    refusal,
)
from patients.models import BreakGlassGrant, CareRole, CareTeamMember
from teams.models import Profession, User
from tests.factories import CareTeamMemberFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

C = Capability
CAPS = (
    C.READ,
    C.POST,
    C.EDIT_RECORD,
    C.EDIT_MEDICATIONS,
    C.EDIT_WISHES,
    C.RECORD_CONSENT,
    C.WITHDRAW_CONSENT,
    C.MANAGE_TEAM,
    C.CHANGE_PHYSICIANS,
    C.BREAK_GLASS,
    C.VIEW_CONSENT,
    C.VIEW_DISCLOSURES,
)

# ok: done; 403: Forbidden; 404: NotFound. Columns in the order of CAPS:
#                  read post rec  med  wish crec cwd  team phys glass vcon vdis
EXPECTED = {
    "primary": "     ok   ok   ok   ok   ok   ok   ok   ok   ok   ok    ok   ok",
    "secondary": "   ok   ok   ok   ok   ok   ok   ok   ok   ok   ok    ok   ok",
    "nurse": "       ok   ok   ok   403  ok   403  403  403  403  ok    ok   403",
    "pharmacist": "  ok   ok   ok   ok   403  403  403  403  403  403   ok   403",
    "therapist": "   ok   ok   ok   403  403  403  403  403  403  403   ok   403",
    "care_manager": "ok   ok   ok   403  ok   403  403  ok   403  403   ok   403",
    "care_worker": " ok   ok   403  403  403  403  403  403  403  403   ok   403",
    "liaison": "     ok   ok   ok   403  403  403  403  403  403  403   ok   403",
    "other": "       ok   ok   403  403  403  403  403  403  403  403   ok   403",
    "org_admin": "   404  404  404  404  404  404  404  ok   ok   403   ok   ok",
    "coordinator": " 404  404  404  404  404  404  404  ok   404  403   ok   ok",
    "break_glass": " ok   403  403  403  403  403  403  403  403  ok    403  403",
    "outsider": "    404  404  404  404  404  404  404  404  404  ok    404  404",
    "stranger": "    404  404  404  404  404  404  404  404  404  ok    404  404",
}

# Team members added to the conftest's team, by role: (persona, role, profession).
EXTRA_MEMBERS = (
    ("therapist", CareRole.THERAPIST, Profession.PHYSICAL_THERAPIST),
    ("care_manager", CareRole.CARE_MANAGER, Profession.CARE_MANAGER),
    ("care_worker", CareRole.CARE_WORKER, Profession.CARE_WORKER),
    ("liaison", CareRole.HOSPITAL_LIAISON, Profession.SOCIAL_WORKER),
    ("other", CareRole.OTHER, Profession.CLERK),
)


def personas(net: Any) -> dict[str, Any]:
    """Every persona of EXPECTED, made on `net`'s patient."""
    people = {
        name: getattr(net, name)
        for name in ("primary", "secondary", "nurse", "pharmacist", "coordinator")
    }
    people.update(outsider=net.outsider, stranger=net.stranger)
    for name, role, profession in EXTRA_MEMBERS:
        user = UserFactory(username=name, profession=profession)
        MembershipFactory(user=user, organization=net.clinic)
        CareTeamMemberFactory(patient=net.patient, user=user, role=role)
        people[name] = user
    admin = UserFactory(username="admin", profession=Profession.CLERK)
    MembershipFactory(user=admin, organization=net.lead_clinic, is_admin=True)
    people["org_admin"] = admin
    reader = UserFactory(username="er_nurse", profession=Profession.NURSE)
    MembershipFactory(user=reader, organization=net.other_clinic)
    BreakGlassGrant.objects.create(
        patient=net.patient,
        user=reader,
        reason="救急搬送時の情報確認のため",
        expires_at=timezone.now() + dt.timedelta(hours=2),
    )
    people["break_glass"] = reader
    return people


def _new_user(profession: str, organization: Any = None) -> Any:
    user = UserFactory(username=f"new-{uuid.uuid4().hex[:8]}", profession=profession)
    if organization is not None:
        MembershipFactory(user=user, organization=organization)
    return user


def _act(capability: Capability, user: User, net: Any) -> Callable[[], Any]:
    """The call that needs `capability`, made as `user` on `net.patient`."""
    pk = net.patient.pk
    actions: dict[Capability, Callable[[], Any]] = {
        C.READ: lambda: selectors.patient_get(user, pk),
        C.POST: lambda: messaging_services.message_post(
            user,
            thread=messaging_services.contact_book_ensure(net.patient).pk,
            client_id=uuid.uuid4(),
            body="本日訪問しました。",
        ),
        C.EDIT_RECORD: lambda: services.record_item_create(
            user, pk, kind="problems", data={"name": "褥瘡"}
        ),
        C.EDIT_MEDICATIONS: lambda: services.record_item_create(
            user, pk, kind="medications", data={"name": "フロセミド錠20mg"}
        ),
        C.EDIT_WISHES: lambda: services.wish_set(user, pk, kind="green", preference="自宅"),
        # Consent is on record: who may record it passes the gate and is refused for that.
        C.RECORD_CONSENT: lambda: services.consent_record(
            user, pk, organization_ids=[net.station.pk], note="再同意"
        ),
        C.WITHDRAW_CONSENT: lambda: services.consent_withdraw(user, pk),
        C.MANAGE_TEAM: lambda: services.care_team_add(
            user,
            pk,
            user_id=_new_user(Profession.NURSE, net.station).pk,
            role=CareRole.VISITING_NURSE,
        ),
        C.CHANGE_PHYSICIANS: lambda: services.care_team_replace_primary(
            user, pk, user_id=_new_user(Profession.PHYSICIAN).pk
        ),
        C.BREAK_GLASS: lambda: services.break_glass_open(
            user, pk, reason="救急搬送時の情報確認のため", hours=1
        ),
        C.VIEW_CONSENT: lambda: list(selectors.consent_list(user, pk)),
        C.VIEW_DISCLOSURES: lambda: list(selectors.disclosure_list(user, pk)),
    }
    return actions[capability]


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except Forbidden:
        return "403"
    except NotFound:
        return "404"
    except DomainError:
        return "ok"  # past the gate, refused for its input
    return "ok"


CELLS = [
    (persona, capability, cell)
    for persona, row in EXPECTED.items()
    for capability, cell in zip(CAPS, row.split(), strict=True)
]


@pytest.mark.parametrize(
    ("persona", "capability", "expected"),
    CELLS,
    ids=[f"{p}-{c.value}" for p, c, _ in CELLS],
)
def test_each_persona_may_do_exactly_what_the_policy_says(net, persona, capability, expected):
    user = personas(net)[persona]
    assert _outcome(_act(capability, user, net)) == expected


def test_the_table_covers_every_capability_and_every_role():
    assert set(CAPS) == set(Capability)
    roles = set(EXPECTED)
    assert len(EXTRA_MEMBERS) + 4 == len(CareRole.values)  # the conftest's four and these
    assert {"org_admin", "coordinator", "break_glass"} <= roles


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_capabilities_of_answers_the_same_cells(net, persona):
    user = personas(net)[persona]
    row = dict(zip(CAPS, EXPECTED[persona].split(), strict=True))
    expected = {c for c, cell in row.items() if cell == "ok"}
    assert capabilities_of(user, net.patient) == expected


def test_a_refusal_says_who_does_it_instead(net):
    with pytest.raises(Forbidden) as exc:
        access_patient(net.nurse, net.patient.pk, capability=C.WITHDRAW_CONSENT)
    assert exc.value.message == refusal(C.WITHDRAW_CONSENT)
    assert "同意の撤回" in exc.value.message
    assert "主治医" in exc.value.message


# --- the rules beside the table ----------------------------------------------------------


def test_an_administrator_may_not_give_themselves_a_place(net):
    people = personas(net)
    admin = people["org_admin"]
    with pytest.raises(Forbidden):
        services.care_team_add(admin, net.patient.pk, user_id=admin.pk, role=CareRole.CARE_MANAGER)
    assert not CareTeamMember.objects.filter(user=admin).exists()


def test_a_coordinator_may_not_give_themselves_a_place(net):
    with pytest.raises(Forbidden):
        services.care_team_add(
            net.coordinator, net.patient.pk, user_id=net.coordinator.pk, role="care_manager"
        )


def test_an_administrator_of_another_organization_gets_404(net):
    admin = UserFactory(username="pharmacy-admin", profession=Profession.CLERK)
    MembershipFactory(user=admin, organization=net.pharmacy, is_admin=True)
    with pytest.raises(NotFound):
        access_patient(admin, net.patient.pk, capability=C.MANAGE_TEAM)


def test_a_coordinator_of_another_network_gets_404(net):
    north = net.other_clinic.networks.get()
    north.coordinators.add(net.stranger)
    with pytest.raises(NotFound):
        access_patient(net.stranger, net.patient.pk, capability=C.MANAGE_TEAM)


def test_a_care_manager_adds_a_helper_but_not_a_physician(net):
    people = personas(net)
    manager = people["care_manager"]
    services.care_team_add(
        manager,
        net.patient.pk,
        user_id=_new_user("care_worker", net.station).pk,
        role=CareRole.CARE_WORKER,
    )
    with pytest.raises(Forbidden):
        services.care_team_add(
            manager,
            net.patient.pk,
            user_id=_new_user(Profession.PHYSICIAN).pk,
            role=CareRole.SECONDARY_PHYSICIAN,
        )


def test_ending_a_physicians_place_needs_change_physicians(net):
    people = personas(net)
    place = CareTeamMember.objects.get(patient=net.patient, user=net.secondary)
    with pytest.raises(Forbidden):
        services.care_team_end(
            people["care_manager"], net.patient.pk, place.pk, end_date=timezone.localdate()
        )
    nurse_place = CareTeamMember.objects.get(patient=net.patient, user=net.nurse)
    services.care_team_end(
        people["care_manager"], net.patient.pk, nurse_place.pk, end_date=timezone.localdate()
    )


def test_the_break_glass_notice_is_posted_though_its_reader_may_not_post(net):
    grant = services.break_glass_open(
        net.outsider, net.patient.pk, reason="救急搬送時の情報確認のため", hours=1
    )
    book = messaging_services.contact_book_ensure(net.patient)
    assert book.messages.filter(author=grant.user).count() == 1
    with pytest.raises(Forbidden):
        messaging_services.message_edit(net.outsider, thread=book.pk, seq=1, body="書き換え")


# --- docs/access.md holds the same table -------------------------------------------------

_DOC = Path(settings.BASE_DIR) / "docs" / "access.md"


def _doc_table() -> dict[str, set[str]]:
    lines = _DOC.read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| who |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows: dict[str, set[str]] = {}
    for line in lines:
        match = re.match(r"\| `(\w+)`", line)
        if not match:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(columns), line
        rows[match.group(1)] = {
            column for column, cell in zip(columns, cells, strict=True) if cell == "✓"
        }
    return rows


def test_the_table_in_docs_is_the_policy_cell_by_cell():
    table = _doc_table()
    assert set(table) == {str(key) for key in POLICY}
    for key, capabilities in POLICY.items():
        assert table[str(key)] == {c.value for c in capabilities}, key


def test_who_may_change_physicians_may_manage_the_team():
    # Ending a physician's place asks for both: nobody holds the one without the other.
    for key, capabilities in POLICY.items():
        if C.CHANGE_PHYSICIANS in capabilities:
            assert C.MANAGE_TEAM in capabilities, key
    assert ORG_ADMIN in POLICY
    assert COORDINATOR in POLICY
