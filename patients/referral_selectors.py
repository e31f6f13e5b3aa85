"""Reads about referrals: the matching of physicians, the inbox, the board, one referral.

Matching ranks the network's physicians who registered for home care
(`teams.models.PhysicianRegistration`, taking new patients): first those who serve the
referral's area (all areas of the network once it is widened), then by how many of the
referral's needs their registration covers, then by their current load (the patients they
are primary or secondary physician for now or from a later day), lightest first. Anyone at
their maximum load is left out. What a page shows of a referral starts from
`patients.access.access_referral` / `referrals_visible_to`; reading the identifying record
is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from patients.access import (
    INVITED_PHYSICIAN,
    REFERRAL_COORDINATOR,
    ReferralCapability,
    access_referral,
    referral_standings_of,
    referrals_visible_to,
)
from patients.models import (
    PHYSICIAN_ROLES,
    CareTeamMember,
    Referral,
    ReferralIdentity,
    ReferralInvitation,
    ReferralStatus,
)
from teams.identity import AnyUser
from teams.models import CapabilityCode, Membership, PhysicianRegistration, Profession, User


@dataclass(frozen=True)
class Candidate:
    physician: User
    serves_area: bool
    needs_met: int
    needs_missing: tuple[str, ...]
    load: int
    max_load: int

    @property
    def sort_key(self) -> tuple[int, int, int, int]:
        return (0 if self.serves_area else 1, len(self.needs_missing), self.load, self.physician.pk)


def physician_loads(user_ids: Iterable[int], *, on: dt.date | None = None) -> dict[str, int]:
    """Per physician id (as a string key for templates), their primary and secondary places
    that are not ended on `on` (today): the patients they answer for."""
    day = on or timezone.localdate()
    rows = (
        CareTeamMember.objects.filter(user_id__in=list(user_ids), role__in=PHYSICIAN_ROLES)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))
        .values("user_id")
        .annotate(n=Count("patient_id", distinct=True))
    )
    return {str(r["user_id"]): r["n"] for r in rows}


def _registered_in(referral: Referral) -> QuerySet[PhysicianRegistration]:
    """Registrations of the network's active physicians who take new patients."""
    in_network = Membership.objects.filter(
        user_id=OuterRef("user_id"),
        is_active=True,
        organization__networks=referral.network_id,
    )
    return (
        PhysicianRegistration.objects.filter(
            accepting=True,
            user__is_active=True,
            user__profession=Profession.PHYSICIAN,
        )
        .filter(Exists(in_network))
        .select_related("user")
        .prefetch_related("capabilities")
    )


def match(referral: Referral, *, widened: bool = False) -> list[Candidate]:
    """The candidates for `referral`, best first: see the module's docstring."""
    registrations = list(_registered_in(referral))
    loads = physician_loads(r.user_id for r in registrations)
    needs = set(referral.needs)
    found: list[Candidate] = []
    for registration in registrations:
        load = loads.get(str(registration.user_id), 0)
        if load >= registration.max_load:
            continue
        # Registered by ward (中央区) or by town (月島): either names the referral's place.
        serves = referral.area in registration.areas or (
            bool(referral.town) and referral.town in registration.areas
        )
        if not serves and not widened:
            continue
        has = {c.code for c in registration.capabilities.all()}
        found.append(
            Candidate(
                physician=registration.user,
                serves_area=serves,
                needs_met=len(needs & has),
                needs_missing=tuple(sorted(needs - has)),
                load=load,
                max_load=registration.max_load,
            )
        )
    return sorted(found, key=lambda c: c.sort_key)


def inbox(user: AnyUser) -> QuerySet[ReferralInvitation]:
    """The user's invitations, open referrals first (the summary only)."""
    if not user.is_authenticated:
        return ReferralInvitation.objects.none()
    return (
        ReferralInvitation.objects.filter(physician_id=user.pk, withdrawn_at__isnull=True)
        .select_related("referral")
        .order_by("referral__status", "referral__deadline", "id")
    )


def referred(user: AnyUser) -> QuerySet[Referral]:
    """The referrals the user's organizations made (the referring side's list)."""
    if not user.is_authenticated:
        return Referral.objects.none()
    own = Membership.objects.filter(
        user_id=user.pk, is_active=True, organization_id=OuterRef("referring_organization_id")
    )
    return (
        Referral.objects.filter(Exists(own))
        .select_related("referring_organization")
        .order_by("-created_at", "-id")
    )


@dataclass
class Board:
    """The coordinator's board: the network's referrals by column, with counts."""

    columns: dict[str, list[Referral]]

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.columns.items()}


BOARD_COLUMNS = ("open", "matching", "overdue", "decided")


def board(user: AnyUser) -> Board:
    """The referrals the user sees, in the board's columns: open (nobody has raised a hand),
    matching (someone has), overdue (past the deadline and not decided), decided."""
    columns: dict[str, list[Referral]] = {name: [] for name in BOARD_COLUMNS}
    now = timezone.now()
    rows = (
        referrals_visible_to(user)
        .exclude(status=ReferralStatus.CANCELLED)
        .select_related("referring_organization", "network")
        .annotate(
            hands=Count("invitations", filter=Q(invitations__answer__in=_HANDS)),
            invited=Count("invitations", filter=Q(invitations__withdrawn_at__isnull=True)),
        )
        .order_by("deadline", "id")
    )
    for referral in rows:
        if referral.status == ReferralStatus.DECIDED:
            columns["decided"].append(referral)
        elif referral.deadline <= now:
            columns["overdue"].append(referral)
        else:
            columns[str(referral.status)].append(referral)
    return Board(columns=columns)


_HANDS = ("primary", "secondary", "either")


@dataclass
class ReferralView:
    referral: Referral
    standings: frozenset[str]
    invitations: list[ReferralInvitation]
    mine: ReferralInvitation | None
    loads: dict[str, int]

    @property
    def rows(self) -> list[tuple[ReferralInvitation, int]]:
        """The invitations shown, each with the physician's load (coordinators only)."""
        return [(i, self.loads.get(str(i.physician_id), 0)) for i in self.invitations]

    @property
    def need_labels(self) -> list[str]:
        return [
            str(CapabilityCode(n).label) for n in self.referral.needs if n in CapabilityCode.values
        ]


def referral_get(user: AnyUser, referral_id: object) -> ReferralView:
    """One referral as the user may see it: everyone who sees it reads the summary; the
    coordinator and the referring organization see every invitation and answer; an invited
    physician sees their own invitation only."""
    referral = access_referral(user, referral_id)
    standings = referral_standings_of(user, referral)
    invitations = list(
        referral.invitations.select_related("physician").order_by("withdrawn_at", "rank", "id")
    )
    mine = next(
        (i for i in invitations if i.physician_id == user.pk and i.withdrawn_at is None), None
    )
    shown = invitations if standings - {INVITED_PHYSICIAN} else ([mine] if mine else [])
    loads = (
        physician_loads(i.physician_id for i in invitations)
        if REFERRAL_COORDINATOR in standings
        else {}
    )
    return ReferralView(referral, standings, shown, mine, loads)


def referral_identity(user: AnyUser, referral_id: object) -> ReferralIdentity:
    """The identifying record, for the referring organization only; the read is audited."""
    referral = access_referral(user, referral_id, capability=ReferralCapability.VIEW_IDENTITY)
    identity = ReferralIdentity.objects.get(referral=referral)
    audit_record(user, AuditAction.READ, obj=identity)
    return identity
