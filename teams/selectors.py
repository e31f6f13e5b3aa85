"""Reads of the directory (連携リスト): organizations, people, networks, and who may edit them.

The directory holds no patient data, so every signed-in user may read it. Each list selector
prefetches what its serializer shows, so a page costs the same number of queries whatever
its length. Writing to the directory is for network coordinators and staff
(`can_manage_directory`, `can_manage_organization`).

A person's ways in (their web sessions and API tokens) are read by them alone, and by the
administrators of their organizations (`administered_person_get`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from config.errors import NotFound
from teams.identity import AnyUser
from teams.models import (
    ApiToken,
    Capability,
    Membership,
    Network,
    Organization,
    PhysicianRegistration,
    User,
    UserSession,
)


def _pk(value: Any) -> int:
    """An id from a URL or form, or `NotFound`: a bad id is just a missing object."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound from None


# --- permissions ----------------------------------------------------------------------------


def can_manage_directory(user: AnyUser) -> bool:
    """Whether the user may add organizations or import the directory: staff or any coordinator."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    return bool(Network.objects.filter(coordinators=user).exists())


def can_manage_organization(user: AnyUser, organization: Organization | int) -> bool:
    """Whether the user may change this organization: staff, or a coordinator of one of its
    networks. An organization in no network is for staff only."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    org_id = organization.pk if isinstance(organization, Organization) else organization
    return bool(Network.objects.filter(coordinators=user, organizations=org_id).exists())


def networks_coordinated_by(user: AnyUser) -> QuerySet[Network]:
    if not user.is_authenticated:
        return Network.objects.none()
    return Network.objects.filter(coordinators=user)


# --- organizations --------------------------------------------------------------------------


def _organizations() -> QuerySet[Organization]:
    return Organization.objects.prefetch_related(
        Prefetch("capabilities", queryset=Capability.objects.order_by("code")),
        Prefetch("networks", queryset=Network.objects.only("id", "name").order_by("name")),
    )


def organization_search(
    *,
    kind: str | None = None,
    capabilities: Iterable[str] = (),
    area: str | None = None,
    q: str | None = None,
) -> QuerySet[Organization]:
    """The directory, narrowed by kind, by capabilities (an organization must have all of
    them), by area (substring) and by a name or kana substring. Empty filters are ignored."""
    qs = _organizations()
    if kind:
        qs = qs.filter(kind=kind)
    # One EXISTS per code: "has all of them" without joins that could repeat rows.
    for code in dict.fromkeys(capabilities):
        has = Organization.capabilities.through.objects.filter(
            organization_id=OuterRef("pk"), capability__code=code
        )
        qs = qs.filter(Exists(has))
    if area:
        qs = qs.filter(area__icontains=area)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(name_kana__icontains=q))
    return qs.order_by("name_kana", "name", "id")


def organization_get(organization_id: Any) -> Organization:
    org = _organizations().filter(pk=_pk(organization_id)).first()
    if org is None:
        raise NotFound
    return org


# --- people ---------------------------------------------------------------------------------


def _active_memberships() -> Prefetch[Any]:
    return Prefetch(
        "memberships",
        queryset=Membership.objects.filter(is_active=True)
        .select_related("organization")
        .order_by("organization__name_kana", "organization__name", "id"),
    )


def people_list(
    *,
    organization: int | None = None,
    profession: str | None = None,
    q: str | None = None,
) -> QuerySet[User]:
    """Active people with their active memberships, narrowed by an organization they work
    for, by profession and by a name, kana or user-name substring."""
    qs = User.objects.filter(is_active=True).prefetch_related(_active_memberships())
    if organization is not None:
        # One filter() call: both conditions hold on the same membership row.
        qs = qs.filter(memberships__organization_id=organization, memberships__is_active=True)
    if profession:
        qs = qs.filter(profession=profession)
    if q:
        qs = qs.filter(
            Q(display_name__icontains=q) | Q(name_kana__icontains=q) | Q(username__icontains=q)
        )
    return qs.order_by("name_kana", "display_name", "id")


def person_get(user_id: Any) -> User:
    person = people_list().filter(pk=_pk(user_id)).first()
    if person is None:
        raise NotFound
    return person


def me_get(user: User) -> User:
    """The signed-in user again, with memberships (active or not) and coordinated networks."""
    return (
        User.objects.prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.select_related("organization").order_by(
                    "organization__name_kana", "organization__name", "id"
                ),
            ),
            Prefetch(
                "coordinated_networks",
                queryset=Network.objects.only("id", "name").order_by("name"),
            ),
        )
        .filter(pk=user.pk)
        .get()
    )


# --- networks -------------------------------------------------------------------------------


def networks_list() -> QuerySet[Network]:
    return Network.objects.prefetch_related(
        Prefetch(
            "organizations",
            queryset=Organization.objects.only("id", "name", "name_kana").order_by(
                "name_kana", "name"
            ),
        ),
        Prefetch(
            "coordinators",
            queryset=User.objects.only("id", "display_name", "username", "first_name", "last_name")
            .filter(is_active=True)
            .order_by("name_kana", "display_name", "id"),
        ),
    ).order_by("name", "id")


def network_get(network_id: Any) -> Network:
    network = networks_list().filter(pk=_pk(network_id)).first()
    if network is None:
        raise NotFound
    return network


# --- ways in: sessions and API tokens -------------------------------------------------------


def session_store() -> type[SessionBase]:
    store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
    return store


def live_session_keys(keys: Iterable[str]) -> set[str]:
    """Which of these session keys the session store still holds, unexpired."""
    keys = [k for k in keys if k]
    if not keys:
        return set()
    store = session_store()
    if hasattr(store, "get_model_class"):  # the database stores: one query for them all
        model = store.get_model_class()
        return set(
            model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
    return {k for k in keys if store().exists(k)}


def sessions_of(user: User) -> list[UserSession]:
    """The person's signed-in web sessions, newest first: only those the store still holds."""
    rows = list(UserSession.objects.filter(user=user).order_by("-created_at", "-id"))
    live = live_session_keys(r.session_key for r in rows)
    return [r for r in rows if r.session_key in live]


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The person's API tokens that have not expired, most recently used first."""
    idle_after = timezone.now() - dt.timedelta(seconds=settings.KIZUNA_API_TOKEN_IDLE_SECONDS)
    return ApiToken.objects.filter(user=user, last_used_at__gte=idle_after).order_by(
        "-last_used_at", "-id"
    )


def administered_organization_ids(user: User) -> QuerySet[Membership, int]:
    return Membership.objects.filter(user=user, is_admin=True, is_active=True).values_list(
        "organization_id", flat=True
    )


def is_organization_admin(user: AnyUser) -> bool:
    """True for an active administrator (`Membership.is_admin`) of some organization."""
    if not isinstance(user, User) or not user.is_active:
        return False
    return administered_organization_ids(user).exists()


def administered_people(user: AnyUser) -> QuerySet[User]:
    """The active people of the organizations `user` administers, with their memberships
    (none for anyone who administers nothing)."""
    if not isinstance(user, User) or not user.is_active:
        return User.objects.none()
    return (
        people_list()
        .filter(
            memberships__is_active=True,
            memberships__organization_id__in=administered_organization_ids(user),
        )
        .distinct()
    )


def administered_person_get(user: AnyUser, person_id: Any) -> User:
    """A person of an organization `user` administers (NotFound for anyone else)."""
    if not isinstance(user, User) or not user.is_active:
        raise NotFound
    person = (
        User.objects.filter(
            pk=_pk(person_id),
            memberships__is_active=True,
            memberships__organization_id__in=administered_organization_ids(user),
        )
        .distinct()
        .first()
    )
    if person is None:
        raise NotFound
    return person


def session_expires_at(session_key: str | None) -> dt.datetime | None:
    """When the session store will stop honouring this session, if it says (the database
    stores do); None when it is gone or the store cannot tell."""
    if not session_key:
        return None
    store = session_store()
    if not hasattr(store, "get_model_class"):
        return None
    expiry: dt.datetime | None = (
        store.get_model_class()
        .objects.filter(session_key=session_key)
        .values_list("expire_date", flat=True)
        .first()
    )
    return expiry


def home_care_registration(user: User) -> PhysicianRegistration | None:
    """The user's own registration for home-care referrals, if any."""
    return PhysicianRegistration.objects.filter(user=user).prefetch_related("capabilities").first()
