"""factory_boy factories that keep related objects consistent."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from patients.models import CareRole, CareTeamMember, Consent, Patient
from teams.models import Membership, Network, Organization, OrganizationKind, Profession, User

PASSWORD = "kizuna-test-pass"


@cache
def password_hash() -> str:
    """One Argon2 hash of PASSWORD for every test user: hashing per user costs seconds."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"利用者{n}")
    name_kana = factory.Sequence(lambda n: f"りようしゃ{n}")
    profession = Profession.NURSE
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.LazyFunction(password_hash)


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"テスト診療所{n}")
    name_kana = factory.Sequence(lambda n: f"てすとしんりょうじょ{n}")
    kind = OrganizationKind.CLINIC
    area = "中央区"


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)


class NetworkFactory(factory.django.DjangoModelFactory[Network]):
    class Meta:
        model = Network

    name = factory.Sequence(lambda n: f"在宅ネットワーク{n}")


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    name = factory.Sequence(lambda n: f"患者{n}")
    name_kana = factory.Sequence(lambda n: f"かんじゃ{n}")
    date_of_birth = dt.date(1940, 4, 1)
    sex = "female"
    managing_organization = factory.SubFactory(OrganizationFactory)


class ConsentFactory(factory.django.DjangoModelFactory[Consent]):
    """A consent on record. It covers the managing organization and, unless `organizations`
    are given, every organization of the managing organization's networks (the personas'
    organizations in tests/conftest.py's `net`), so a team built in a test reads."""

    class Meta:
        model = Consent

    patient = factory.SubFactory(PatientFactory)
    recorded_by = factory.SubFactory(UserFactory, profession=Profession.PHYSICIAN)

    @classmethod
    def _create(cls, model_class: type[Consent], *args: Any, **kwargs: Any) -> Consent:
        organizations = kwargs.pop("organizations", None)
        consent: Consent = super()._create(model_class, *args, **kwargs)
        managing = consent.patient.managing_organization
        if organizations is None:
            organizations = Organization.objects.filter(networks__organizations=managing)
        consent.organizations.set({managing, *organizations})
        return consent


class CareTeamMemberFactory(factory.django.DjangoModelFactory[CareTeamMember]):
    class Meta:
        model = CareTeamMember

    patient = factory.SubFactory(PatientFactory)
    user = factory.SubFactory(UserFactory)
    role = CareRole.VISITING_NURSE
    # The managing organization's, which every consent covers, unless told.
    organization = factory.LazyAttribute(lambda o: o.patient.managing_organization)
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))

    class Params:
        # A place that ended yesterday, after two months.
        ended = factory.Trait(
            start_date=factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=60)),
            end_date=factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=1)),
        )


def home_care(
    user: User, *, areas: list[str], capabilities: tuple[str, ...] = (), **kw: Any
) -> Any:
    """Register `user` for home-care referrals (teams.models.PhysicianRegistration)."""
    from teams.models import Capability, PhysicianRegistration

    registration = PhysicianRegistration.objects.create(user=user, areas=areas, **kw)
    for code in capabilities:
        registration.capabilities.add(Capability.objects.get_or_create(code=code)[0])
    return registration
