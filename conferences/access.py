"""Who sees a conference, who runs it, and whom one may invite.

A conference is seen by its organizer and its invitees, nobody else: anyone else gets
`NotFound`, the same answer as for a conference that does not exist. Only the organizer
changes it (`Forbidden` to an invitee). What an invitee sees of an agenda patient is the
patient gate's answer (`patients.access.patients_visible_to`): the name to those it lets see
the patient, "a patient of <organization>" to the rest.

The network: one may invite the active members of the organizations that share a regional
network with one of one's own organizations (and of one's own organizations), and the
network's coordinators. Nobody else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from conferences.models import Conference, Invitee
from config.errors import Forbidden, NotFound
from patients.access import patients_visible_to
from teams.identity import AnyUser
from teams.models import Membership, Network, Organization, User

# The room opens this long before an occurrence and stays open this long after its end.
ROOM_MARGIN = dt.timedelta(minutes=30)


def _signed_in(user: AnyUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def conferences_visible_to(user: AnyUser) -> QuerySet[Conference]:
    """Every conference the user organizes or is invited to."""
    if not _signed_in(user):
        return Conference.objects.none()
    uid: int = user.pk  # type: ignore[assignment]  # signed in: a User
    invited = Invitee.objects.filter(conference=OuterRef("pk"), user_id=uid)
    return Conference.objects.filter(Q(organizer_id=user.pk) | Exists(invited))


def _pk(value: Any) -> int:
    if isinstance(value, bool):
        raise NotFound
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound from None
    if not 0 < pk < 2**63:
        raise NotFound
    return pk


def access_conference(user: AnyUser, conference_id: Any, *, organize: bool = False) -> Conference:
    """The conference if the user sees it (and, with `organize`, runs it).

    `NotFound` for anyone neither organizer nor invitee; `Forbidden` for an invitee asking to
    change it."""
    pk = _pk(conference_id)
    conference = conferences_visible_to(user).filter(pk=pk).select_related("organizer").first()
    if conference is None:
        raise NotFound
    if organize and conference.organizer_id != user.pk:
        raise Forbidden(_("この操作は会議の主催者が行います。"))
    return conference


def is_invited(user: AnyUser, conference: Conference) -> bool:
    """Whether the user is the organizer or an invitee of the conference."""
    if not _signed_in(user):
        return False
    if conference.organizer_id == user.pk:
        return True
    uid: int = user.pk  # type: ignore[assignment]  # signed in: a User
    return Invitee.objects.filter(conference=conference, user_id=uid).exists()


def visible_patient_ids(user: AnyUser, patient_ids: list[int]) -> set[int]:
    """Those of `patient_ids` the patient gate lets the user see now."""
    if not patient_ids:
        return set()
    return set(patients_visible_to(user).filter(pk__in=patient_ids).values_list("pk", flat=True))


def network_organizations(user: User) -> QuerySet[Organization]:
    """The organizations the user may invite from: their own, and those sharing a network
    with one of them."""
    mine = Membership.objects.filter(user=user, is_active=True).values("organization_id")
    networks = Network.objects.filter(Q(organizations__in=mine) | Q(coordinators=user))
    return Organization.objects.filter(Q(pk__in=mine) | Q(networks__in=networks)).distinct()


def network_people(user: User) -> QuerySet[User]:
    """The people the user may invite: active members of `network_organizations`, and the
    coordinators of the user's networks."""
    orgs = network_organizations(user)
    mine = Membership.objects.filter(user=user, is_active=True).values("organization_id")
    networks = Network.objects.filter(Q(organizations__in=mine) | Q(coordinators=user))
    member = Membership.objects.filter(user=OuterRef("pk"), is_active=True, organization__in=orgs)
    return (
        User.objects.filter(is_active=True)
        .filter(Exists(member) | Q(coordinated_networks__in=networks))
        .distinct()
    )
