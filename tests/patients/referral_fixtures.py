"""The people of the referral tests, beside tests/conftest.py's `net`.

The hospital (中央総合病院) joins the network with its discharge nurse. Physicians registered
for home care: `net.primary` (中央区, ventilator and palliative care), `net.secondary`
(中央区, palliative care), `third` (中央区, nothing special: declines), `far` (港区, every
need, only reached when the referral is widened), `full` (中央区, at its maximum load).
`net.stranger` is a physician of another network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from patients import referrals
from patients.models import Referral
from teams.models import Organization, OrganizationKind, Profession, User
from tests.factories import (
    CareTeamMemberFactory,
    MembershipFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
    home_care,
)


@dataclass
class ReferralNet:
    net: Any
    hospital: Organization
    discharge_nurse: User
    third: User
    far: User
    full: User


@pytest.fixture
def rnet(net: Any) -> ReferralNet:
    network = net.lead_clinic.networks.get()
    hospital = OrganizationFactory(name="中央総合病院", kind=OrganizationKind.HOSPITAL)
    network.organizations.add(hospital)
    nurse = UserFactory(username="discharge", display_name="井上 看護", profession=Profession.NURSE)
    MembershipFactory(user=nurse, organization=hospital)

    def physician(username: str, name: str) -> User:
        user = UserFactory(username=username, display_name=name, profession=Profession.PHYSICIAN)
        MembershipFactory(user=user, organization=net.clinic)
        return user

    third = physician("third", "木村 三郎")
    far = physician("far", "林 遠子")
    full = physician("full", "森 満")
    home_care(net.primary, areas=["中央区"], capabilities=("ventilator", "palliative_care"))
    home_care(net.secondary, areas=["中央区"], capabilities=("palliative_care",))
    home_care(third, areas=["中央区"])
    home_care(far, areas=["港区"], capabilities=("ventilator", "palliative_care"))
    home_care(full, areas=["中央区"], capabilities=("ventilator", "palliative_care"), max_load=1)
    CareTeamMemberFactory(
        patient=PatientFactory(managing_organization=net.clinic),
        user=full,
        role="primary_physician",
        organization=net.clinic,
    )
    home_care(net.stranger, areas=["中央区"], capabilities=("ventilator",))
    return ReferralNet(net, hospital, nurse, third, far, full)


def referral_data(rnet: ReferralNet, **overrides: Any) -> dict[str, Any]:
    network = rnet.net.lead_clinic.networks.get()
    data: dict[str, Any] = {
        "network_id": network.pk,
        "referring_organization_id": rnet.hospital.pk,
        "age_band": "80-89",
        "sex": "female",
        "area": "中央区",
        "town": "月島",
        "conditions": "膵癌末期、疼痛コントロール中",
        "needs": ["palliative_care", "ventilator"],
        "summary": "娘さんと二人暮らし。自宅での看取りを希望。",
        "wished_start": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
        "name": "青木 ミツ",
        "name_kana": "あおき みつ",
        "date_of_birth": "1941-05-06",
        "address": "東京都中央区月島3丁目4-5",
        "phone": "03-1111-2222",
        "consent_method": "written",
        "consented_on": timezone.localdate().isoformat(),
    }
    data.update(overrides)
    return data


def make_referral(rnet: ReferralNet, **overrides: Any) -> Referral:
    return referrals.referral_create(rnet.discharge_nurse, **referral_data(rnet, **overrides))
