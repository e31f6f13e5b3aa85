"""Conference fixtures: the conftest's network, with a hospital in it and its discharge nurse."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone, translation

from conferences import services
from teams.models import OrganizationKind, Profession
from tests.conftest import Network
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _japanese() -> None:
    """The tests read the Japanese words: whatever an earlier test's request left active."""
    translation.activate("ja")


@pytest.fixture
def hospital_nurse(net: Network):
    """A discharge nurse of a hospital in the personas' network, on no care team."""
    hospital = OrganizationFactory(name="中央病院", kind=OrganizationKind.HOSPITAL)
    net.lead_clinic.networks.first().organizations.add(hospital)
    nurse = UserFactory(username="hospital", display_name="中村 退院", profession=Profession.NURSE)
    MembershipFactory(user=nurse, organization=hospital)
    return nurse


def soon(minutes: int = 60) -> dt.datetime:
    return (timezone.now() + dt.timedelta(minutes=minutes)).replace(microsecond=0)


@pytest.fixture
def schedule(net: Network):
    """`schedule(**overrides)`: a case review by the primary physician, with the nurse and the
    pharmacist invited and the conftest's patient on the agenda."""

    def make(**overrides: Any):
        start = overrides.pop("starts_at", soon(24 * 60 * 3))
        args: dict[str, Any] = {
            "kind": "case_review",
            "title": "12月の事例検討会",
            "starts_at": start,
            "ends_at": start + dt.timedelta(hours=1),
            "invitees": [net.nurse.pk, net.pharmacist.pk],
            "agenda": [
                {
                    "patient": net.patient.pk,
                    "presenter": net.nurse.pk,
                    "question": "退院後の疼痛管理",
                }
            ],
        }
        args.update(overrides)
        organizer = args.pop("organizer", net.primary)
        return services.schedule_conference(organizer, **args)

    return make
