"""The thread gate: who may read and post in which thread, and who receives its live events.

Built on the patient gate (`patients.access`): a patient's threads are visible exactly to
those who see the patient. A coordination thread is visible to the active members of its
organization, or for a network thread to the active members of the network's organizations and
its coordinators. Missing and not-visible threads give the same `NotFound`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.api import NotFound
from messaging.models import Thread, ThreadKind
from patients.access import patient_access_sql, patients_visible_to
from patients.models import CareRole, CareTeamMember, Consent
from teams.models import Membership, Network, User


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


@cache
def _coordination_sql() -> str:
    """`threads_visible_to`'s rule for coordination threads, as SQL on the thread row."""
    quote = connection.ops.quote_name
    thread = quote(Thread._meta.db_table)
    membership = quote(Membership._meta.db_table)
    network_orgs = quote(Network.organizations.through._meta.db_table)
    coordinators = quote(Network.coordinators.through._meta.db_table)
    return (
        f"(EXISTS (SELECT 1 FROM {membership} kz_m WHERE kz_m.user_id = %s"
        f" AND kz_m.is_active = %s AND kz_m.organization_id = {thread}.organization_id)"
        f" OR EXISTS (SELECT 1 FROM {membership} kz_m JOIN {network_orgs} kz_no"
        " ON kz_no.organization_id = kz_m.organization_id"
        " WHERE kz_m.user_id = %s AND kz_m.is_active = %s"
        f" AND kz_no.network_id = {thread}.network_id)"
        f" OR EXISTS (SELECT 1 FROM {coordinators} kz_c WHERE kz_c.user_id = %s"
        f" AND kz_c.network_id = {thread}.network_id))"
    )


def thread_access_sql(user: Any) -> tuple[str, list[Any]]:
    """`threads_visible_to`'s rule for the thread row of the query, as one cheap SQL condition
    and its parameters.

    A patient's thread: the patient gate (`patients.access.patient_access_sql`). A
    coordination thread: an active membership in its organization, or for a network thread in
    one of the network's organizations, or being its coordinator. Written as SQL because
    composing `threads_visible_to` in the ORM costs more than running it, on every post and
    every history read; tests/messaging/test_access_fast.py holds the two rules equal.
    Call it only for an authenticated, active user.
    """
    patient_column = f"{connection.ops.quote_name(Thread._meta.db_table)}.patient_id"
    patient_sql, patient_params = patient_access_sql(user, patient_column)
    coordination_params = [user.pk, True, user.pk, True, user.pk]
    return f"({patient_sql} OR {_coordination_sql()})", [*patient_params, *coordination_params]


def threads_visible_fast(user: Any) -> QuerySet[Thread]:
    """The same threads as `threads_visible_to`, filtered by `thread_access_sql` instead of
    the composed ORM rule: for the lists that run on every reconnect (the sync) and every
    thread list, where compiling the ORM rule cost about as much as the rest of the request.
    tests/messaging/test_access_fast.py holds the two equal."""
    if not user.is_authenticated or not user.is_active:
        return Thread.objects.none()
    sql, params = thread_access_sql(user)
    return Thread.objects.filter(RawSQL(sql, params, output_field=BooleanField()))


# The thread's relations as `access_thread` loads them: what their names need (titles,
# `ThreadOutputSerializer`); the other fields load if touched.
_RELATED: tuple[Any, ...] = (Thread.patient.field, Thread.organization.field, Thread.network.field)


@cache
def _thread_by_pk_sql() -> str:
    """The thread row by pk with its relations' names, on the condition of
    `thread_access_sql` (appended)."""
    quote = connection.ops.quote_name
    table = quote(Thread._meta.db_table)
    columns = [f"{table}.{quote(str(f.column))}" for f in Thread._meta.concrete_fields]
    joins = []
    for i, field in enumerate(_RELATED):
        alias = f"kz_r{i}"
        columns.append(f"{alias}.{quote('name')}")
        joins.append(
            f" LEFT JOIN {quote(field.related_model._meta.db_table)} {alias}"
            f" ON {alias}.{quote('id')} = {table}.{quote(str(field.column))}"
        )
    return (
        f"SELECT {', '.join(columns)} FROM {table}{''.join(joins)}"
        f" WHERE {table}.{quote('id')} = %s AND "
    )


def thread_access_named(user: Any) -> tuple[str, dict[str, Any]]:
    """`thread_access_sql` with named parameters (`kz_gate0`, `kz_gate1`, ...), for a
    statement written with named parameters (the post statement)."""
    sql, params = thread_access_sql(user)
    return _named_placeholders(sql, len(params)), {f"kz_gate{i}": p for i, p in enumerate(params)}


@cache
def _named_placeholders(sql: str, count: int) -> str:
    """`sql` with its `count` "%s" placeholders renamed `%(kz_gate0)s`, `%(kz_gate1)s`, ...
    Cached: the condition's text is the same for every user, only its parameters change."""
    parts = sql.split("%s")
    if len(parts) - 1 != count or "%(" in sql:
        raise ValueError("the access condition's placeholders changed")
    return parts[0] + "".join(f"%(kz_gate{i})s{part}" for i, part in enumerate(parts[1:]))


def thread_pk(thread_id: Any) -> int:
    """A thread id from the outside world as a pk, or `NotFound`."""
    try:
        pk = int(thread_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if not 0 < pk < 2**63:
        raise NotFound
    return pk


def access_thread(user: Any, thread_id: Any, *, for_write: bool = False) -> Thread:
    """The thread if the user may see it (or post in it, with `for_write`), else `NotFound`.

    Reading and writing have the same rule today, as for patients; `for_write` marks the call
    sites that change data. One plain query (no ORM compilation: this runs on every post and
    every history read): the thread by pk, with the names of its patient, organization or
    network, on the condition that the user may see it. Views call this once per request and
    hand the thread to the services (`thread=`), so the gate runs once.
    """
    pk = thread_pk(thread_id)
    if not user.is_authenticated or not user.is_active:
        raise NotFound
    condition, params = thread_access_sql(user)
    with connection.cursor() as cursor:
        cursor.execute(_thread_by_pk_sql() + condition, [pk, *params])
        row = cursor.fetchone()
    if row is None:
        raise NotFound
    fields = Thread._meta.concrete_fields
    thread = Thread.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], row[: len(fields)])
    for field, name in zip(_RELATED, row[len(fields) :], strict=True):
        related_id = getattr(thread, field.attname)
        if related_id is not None:
            related = field.related_model.from_db(
                DEFAULT_DB_ALIAS, ["id", "name"], [related_id, name]
            )
            field.set_cached_value(thread, related)
    return thread


@cache
def recipients_sql(patient: str = "%(rcpt_patient)s") -> str:
    """A patient thread's members: the active users with a place on the patient's care team
    today; while consent is withdrawn, only the primary physician (as the gate says). Plain
    SQL: it runs with every post, and the ORM took longer to build it than PostgreSQL to run
    it. Named parameters (`recipients_params`), and the patient as an SQL expression, so the
    post statement can embed it."""
    quote = connection.ops.quote_name
    return (
        f"SELECT DISTINCT kz_p.user_id FROM {quote(CareTeamMember._meta.db_table)} kz_p"
        f" JOIN {quote(User._meta.db_table)} kz_u ON kz_u.id = kz_p.user_id"
        f" WHERE kz_p.patient_id = {patient} AND kz_u.is_active"
        " AND kz_p.start_date <= %(rcpt_today)s"
        " AND (kz_p.end_date IS NULL OR kz_p.end_date >= %(rcpt_today)s)"
        f" AND (kz_p.role = %(rcpt_primary)s OR EXISTS (SELECT 1"
        f" FROM {quote(Consent._meta.db_table)} kz_c"
        " WHERE kz_c.patient_id = kz_p.patient_id AND kz_c.withdrawn_at IS NULL))"
        " ORDER BY kz_p.user_id"
    )


def recipients_params(patient_id: int | None = None) -> dict[str, Any]:
    """The parameters of `recipients_sql`; without `patient_id` for an SQL expression."""
    today = connection.ops.adapt_datefield_value(timezone.localdate())
    params: dict[str, Any] = {"rcpt_today": today, "rcpt_primary": CareRole.PRIMARY_PHYSICIAN.value}
    if patient_id is not None:
        params["rcpt_patient"] = patient_id
    return params


def thread_member_ids(thread: Thread) -> list[int]:
    """The ids of the people who receive this thread's events now, and whom it may mention.

    For a patient's thread: the patient's active care team (only the primary physician while
    consent is withdrawn, as the gate says). For a coordination thread: the members of its
    organization or network. Computed per event, so a person who leaves stops receiving at once.
    """
    if thread.patient_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(recipients_sql(), recipients_params(thread.patient_id))
            return [row[0] for row in cursor.fetchall()]
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
