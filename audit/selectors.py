"""Reads of the audit log, scoped to what the reader may see.

Who reads the log:
- staff (``is_staff``) see every row;
- an organization administrator (an active ``Membership`` with ``is_admin``) sees the rows whose
  actor is, or was, a member of an organization they administer. A former member's rows stay
  visible: the administrator must be able to audit what someone did before they left;
- nobody else sees any row.

The log is read through the gate below and never by hand in a view, like patient data.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, QuerySet

from audit.models import AuditEvent
from teams.identity import AnyUser
from teams.models import Membership, User

# The period filter is in the network's local time, whatever the server's clock says.
TOKYO = ZoneInfo("Asia/Tokyo")


def _administered_memberships(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user, is_admin=True, is_active=True)


_CAN_READ_CACHE = "_kizuna_can_read_audit"


def can_read_audit(user: AnyUser) -> bool:
    """True when the user may open the audit page: staff, or an organization administrator.

    The answer is kept on the user object, as Django keeps permissions (`_perm_cache`): the
    page and the layout's navigation both ask during one request, and a request loads its
    user afresh.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    cached = getattr(user, _CAN_READ_CACHE, None)
    if cached is None:
        cached = _administered_memberships(user).exists()
        setattr(user, _CAN_READ_CACHE, cached)
    return bool(cached)


def audit_events_visible_to(user: AnyUser) -> QuerySet[AuditEvent]:
    """Every audit row the user may read, newest first (empty for everyone else)."""
    if not user.is_authenticated or not user.is_active:
        return AuditEvent.objects.none()
    if user.is_staff:
        return AuditEvent.objects.all()
    administered = _administered_memberships(user).values("organization_id")
    # One EXISTS subquery rather than a join, so a person in two administered organizations
    # does not show each of their rows twice.
    actor_is_member = Membership.objects.filter(
        user_id=OuterRef("actor_id"), organization_id__in=administered
    )
    return AuditEvent.objects.filter(Exists(actor_is_member))


def _start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=TOKYO)


def audit_events_filtered(
    user: AnyUser,
    *,
    patient_id: int | None = None,
    actor_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    action: str | None = None,
) -> QuerySet[AuditEvent]:
    """The user's visible audit rows narrowed by the filters, newest first, actors joined.

    Dates are calendar days in Asia/Tokyo, both ends included. Arguments are already
    validated (see ``audit.forms.AuditFilterForm``).
    """
    events = audit_events_visible_to(user)
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if date_from is not None:
        events = events.filter(at__gte=_start_of_day(date_from))
    if date_to is not None:
        # Half-open upper bound: the whole of the last day, however precise the timestamps.
        events = events.filter(at__lt=_start_of_day(date_to + dt.timedelta(days=1)))
    if action:
        events = events.filter(action=action)
    return events.select_related("actor").order_by("-at", "-id")
