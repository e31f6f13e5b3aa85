"""The thread gate: who may read and post in which thread, and who receives its live events.

Built on the patient gate (`patients.access`): a patient's threads are visible exactly to
those who see the patient. A coordination thread is visible to the active members of its
organization, or for a network thread to the active members of the network's organizations and
its coordinators. Missing and not-visible threads give the same `NotFound`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from config.api import NotFound
from messaging.models import Thread, ThreadKind
from patients.access import active_team, patients_visible_to
from patients.models import CareRole, Consent
from teams.models import Membership, Network


def threads_visible_to(user: Any) -> QuerySet[Thread]:
    """Every thread the user may see. Every thread-scoped queryset starts here."""
    if not user.is_authenticated or not user.is_active:
        return Thread.objects.none()
    my_orgs = Membership.objects.filter(user=user, is_active=True).values("organization_id")
    networks_of_my_orgs = Network.objects.filter(organizations__in=my_orgs).values("id")
    networks_i_coordinate = Network.objects.filter(coordinators=user).values("id")
    return Thread.objects.filter(
        Q(patient__in=patients_visible_to(user))
        | Q(organization__in=my_orgs)
        | Q(network__in=networks_of_my_orgs)
        | Q(network__in=networks_i_coordinate)
    )


def access_thread(user: Any, thread_id: Any, *, for_write: bool = False) -> Thread:
    """The thread if the user may see it (or post in it, with `for_write`), else `NotFound`.

    Reading and writing have the same rule today, as for patients; `for_write` marks the call
    sites that change data.
    """
    try:
        pk = int(thread_id)
    except (TypeError, ValueError):
        raise NotFound from None
    thread = (
        threads_visible_to(user)
        .select_related("patient", "organization", "network")
        .filter(pk=pk)
        .first()
    )
    if thread is None:
        raise NotFound
    return thread


def thread_member_ids(thread: Thread) -> list[int]:
    """The ids of the people who receive this thread's events now, and whom it may mention.

    For a patient's thread: the patient's active care team (only the primary physician while
    consent is withdrawn, as the gate says). For a coordination thread: the members of its
    organization or network. Computed per event, so a person who leaves stops receiving at once.
    """
    if thread.patient_id is not None:
        places = active_team(thread.patient_id).filter(user__is_active=True)
        has_consent = Consent.objects.filter(
            patient_id=thread.patient_id, withdrawn_at__isnull=True
        ).exists()
        if not has_consent:
            places = places.filter(role=CareRole.PRIMARY_PHYSICIAN)
        return sorted(set(places.values_list("user_id", flat=True)))
    members = Membership.objects.filter(is_active=True, user__is_active=True)
    if thread.kind == ThreadKind.COORDINATION and thread.organization_id is not None:
        return sorted(
            set(
                members.filter(organization_id=thread.organization_id).values_list(
                    "user_id", flat=True
                )
            )
        )
    if thread.network_id is not None:
        ids = set(
            members.filter(organization__networks=thread.network_id).values_list(
                "user_id", flat=True
            )
        )
        ids.update(
            Network.coordinators.through.objects.filter(
                network_id=thread.network_id, user__is_active=True
            ).values_list("user_id", flat=True)
        )
        return sorted(ids)
    return []
