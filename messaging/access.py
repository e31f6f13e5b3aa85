"""The thread gate: who may read and post in which thread, and who receives its live events.

A thread has an audience: the people whose rows in one of `audiences()` name what the thread
belongs to. A patient's threads belong to the patient, and their audiences are the patient
gate's grants (`patients.access.GRANTS`) that give `Capability.READ`, so a patient's threads
are visible exactly to those who see the patient; they may post there if their grant gives
`Capability.POST` too (`patients.access.POLICY`: a break-glass reader reads and does not post).
A coordination thread belongs to an organization (its active members) or to a network (the
active members of its organizations, and its coordinators), who all read and post.

`audiences()` is the one definition. The gate (`threads_visible_to`, `access_thread`), its
post form (`access_thread(capability=POST)`, and inside the post statement through
`thread_condition_named(user, Capability.POST)`), the receivers of a thread's events
(`thread_member_ids`, and the post statement through `thread_audience_sql`) are all built from
it; the SQL of the hot paths is the ORM compiled once per capability (`config.compiled_sql`).
Missing and not-visible threads give the same `NotFound`; a visible thread where the user may
not post gives `Forbidden`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from config.compiled_sql import NOW, PATIENT, TODAY, USER, NamedParams, SqlTemplate
from config.errors import Forbidden, NotFound
from messaging import sql
from messaging.models import Thread
from patients import access as patient_access
from patients.access import (
    Capability,
    Moment,
    consent_refusal,
    patient_audience_sql,
    refusal,
)
from teams.identity import AnyUser
from teams.models import Membership, Network, User


@dataclass(frozen=True)
class Audience:
    """People who see the threads whose field `thread_field` holds the `key` of one of their
    rows. `rows(at)`: the rows in force at `at`, each naming a person (`user_id`)."""

    name: str
    thread_field: str
    rows: Callable[[Moment], QuerySet[Any]]
    key: str
    receives_events: bool


def _organization_members(at: Moment) -> QuerySet[Any]:
    return Membership.objects.filter(is_active=True)


def _network_coordinators(at: Moment) -> QuerySet[Any]:
    return Network.coordinators.through.objects.all()


COORDINATION_AUDIENCES: tuple[Audience, ...] = (
    Audience("organization", "organization_id", _organization_members, "organization_id", True),
    Audience("network", "network_id", _organization_members, "organization__networks", True),
    Audience("coordinator", "network_id", _network_coordinators, "network_id", True),
)


def _rows_for(grant: patient_access.Grant, capability: Capability) -> Callable[[Moment], Any]:
    def rows(at: Moment) -> Any:
        return grant.rows_for(capability, at)

    return rows


def audiences(capability: Capability = Capability.READ) -> tuple[Audience, ...]:
    """Every audience of a thread whose holders may do `capability` (READ: see it, POST: post
    in it): the patient gate's grants (`patients.access.GRANTS`) that give it for a patient's
    threads, then `COORDINATION_AUDIENCES`, whose holders read and post."""
    patient = tuple(
        Audience(
            f"patient:{g.name}",
            "patient_id",
            _rows_for(g, capability),
            "patient_id",
            g.receives_events,
        )
        for g in patient_access.GRANTS
        if g.gives(capability)
    )
    return patient + COORDINATION_AUDIENCES


def thread_rule(user_id: int, at: Moment, capability: Capability = Capability.READ) -> Q:
    """The gate as a condition on threads: the person `user_id` may see the thread (or do
    `capability` in it: `POST`) at `at`. Callers check that the person is signed in and
    active."""
    if capability not in (Capability.READ, Capability.POST):
        raise ValueError(f"a thread is read or posted in, not {capability}")
    return Q(
        *(
            Exists(
                audience.rows(at).filter(
                    user_id=user_id, **{audience.key: OuterRef(audience.thread_field)}
                )
            )
            for audience in audiences(capability)
        ),
        _connector=Q.OR,
    )


@cache
def _thread_condition(capability: Capability = Capability.READ) -> SqlTemplate:
    """`thread_rule` compiled: a condition on the thread table's row, for any user."""
    at = Moment(today=TODAY.sentinel, now=NOW.sentinel)
    rule = Thread.objects.filter(thread_rule(USER.sentinel, at, capability))
    return SqlTemplate.of_condition(rule, [USER, TODAY, NOW])


def _values(user: User) -> dict[str, Any]:
    return {USER.name: user.pk, **Moment.current().values()}


def thread_condition(user: User, capability: Capability = Capability.READ) -> tuple[str, list[Any]]:
    """The gate for `user` (who may see the thread, or with `POST`, post in it) as an SQL
    condition on the row of the thread table (under its own name) and its parameters. Call
    it only for a signed-in, active user."""
    condition = _thread_condition(capability)
    return condition.sql, condition.bind(_values(user))


@cache
def _thread_condition_named(capability: Capability) -> tuple[str, NamedParams]:
    return _thread_condition(capability).named("kz_gate")


def thread_condition_named(
    user: User, capability: Capability = Capability.READ
) -> tuple[str, dict[str, Any]]:
    """`thread_condition` with named parameters, for a statement written with them."""
    text, params = _thread_condition_named(capability)
    return text, params.bind(_values(user))


def threads_visible_to(user: AnyUser) -> QuerySet[Thread]:
    """Every thread the user may see. Every thread-scoped queryset starts here."""
    if not user.is_authenticated or not user.is_active:
        return Thread.objects.none()
    text, params = thread_condition(user)
    # The gate compiled from the ORM (`_thread_condition`), its values as parameters.
    return Thread.objects.filter(RawSQL(text, params, output_field=BooleanField()))  # noqa: S611


def thread_pk(thread_id: Any) -> int:
    """A thread id from the outside world as a pk, or `NotFound`."""
    if isinstance(thread_id, bool):
        raise NotFound
    try:
        pk = int(thread_id)
    except (TypeError, ValueError):
        raise NotFound from None
    if not 0 < pk < 2**63:
        raise NotFound
    return pk


def access_thread(
    user: AnyUser, thread_id: Any, *, capability: Capability = Capability.READ
) -> Thread:
    """The thread if the user may see it (or post in it, with `capability=POST`).

    `NotFound` when it is missing or the user may not see it; `Forbidden` when the user sees
    it but may not post in it (a break-glass reader). One query (`sql.thread_by_pk`) when
    allowed: the thread with the names of its patient, organization or network, on the
    condition that the user may do `capability`; a refusal asks once more, to tell the two
    answers apart. Views call this once per request and hand the thread to the services, so
    the gate runs once.
    """
    pk = thread_pk(thread_id)
    if not user.is_authenticated or not user.is_active:
        raise NotFound
    condition, params = thread_condition(user, capability)
    with connection.cursor() as cursor:
        cursor.execute(sql.thread_by_pk() + condition, [pk, *params])
        row = cursor.fetchone()
    if row is None:
        refuse_thread(user, pk, capability)
    fields = Thread._meta.concrete_fields
    thread = Thread.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], row[: len(fields)])
    for field, name in zip(sql.THREAD_RELATED, row[len(fields) :], strict=True):
        related_id = getattr(thread, field.attname)
        if related_id is not None:
            related = field.related_model.from_db(
                DEFAULT_DB_ALIAS, ["id", "name"], [related_id, name]
            )
            field.set_cached_value(thread, related)
    return thread


def refuse_thread(user: AnyUser, pk: int, capability: Capability) -> NoReturn:
    """Raise the refusal for a thread the gate's `capability` form did not give: `Forbidden`
    if the user sees it, or is on its patient's team and left out by the consent (with the
    reason, `patients.access.consent_refusal`), else `NotFound`."""
    if capability != Capability.READ and threads_visible_to(user).filter(pk=pk).exists():
        raise Forbidden(refusal(capability))
    if user.is_authenticated and user.is_active:
        patient_id = (
            Thread.objects.filter(pk=pk, patient__isnull=False)
            .values_list("patient_id", flat=True)
            .first()
        )
        if patient_id is not None:
            raise consent_refusal(user.pk, patient_id, Moment.current()) or NotFound
    raise NotFound


# --- who receives a thread's events ---------------------------------------------------


def thread_audience_sql(patient_sql: str) -> tuple[str, dict[str, Any]]:
    """The receivers of a patient's thread's events as one statement answering user ids,
    with the patient's id as the SQL expression `patient_sql`, and its named parameters:
    for a statement that reads them together with its write (the post statement)."""
    text, params = _audience_named(patient_sql)
    return text, params.bind(Moment.current().values())


@cache
def _audience_named(patient_sql: str) -> tuple[str, NamedParams]:
    return patient_audience_sql().put(PATIENT, patient_sql).named("kz_rcpt")


def thread_member_ids(thread: Thread) -> list[int]:
    """The ids of the people who receive this thread's events now, and whom it may mention,
    sorted: the active holders of the thread's audiences that receive events. Computed per
    event, so a person who leaves stops receiving at once."""
    if thread.patient_id is not None:
        template = patient_audience_sql()
        values = {PATIENT.name: thread.patient_id, **Moment.current().values()}
        with connection.cursor() as cursor:
            cursor.execute(template.sql, template.bind(values))
            return [row[0] for row in cursor.fetchall()]
    at = Moment.current()
    ids: set[int] = set()
    for audience in COORDINATION_AUDIENCES:
        key = getattr(thread, audience.thread_field)
        if key is None or not audience.receives_events:
            continue
        rows = audience.rows(at).filter(**{audience.key: key}, user__is_active=True)
        ids.update(rows.values_list("user_id", flat=True))
    return sorted(ids)


def forget_compiled_rules() -> None:
    """Drop the compiled forms of the rule, so they are compiled again from the ORM on next
    use: after a grant or an audience was added at run time (tests do)."""
    for compiled in (
        _thread_condition,
        _thread_condition_named,
        _audience_named,
        patient_audience_sql,
        sql.post,
    ):
        compiled.cache_clear()
