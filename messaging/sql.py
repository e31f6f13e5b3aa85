"""Every hand-written SQL statement of messaging, each with the reason it is not the ORM.

The rest of messaging calls these by name and never builds SQL itself. The reasons were
measured with `make bench` and EXPLAIN ANALYZE; the figures are in docs/bench.md ("Why some
statements are SQL"), not here, where they would go stale. The access condition that some of
them take is not written here: it is the gate's ORM rule, compiled (`messaging.access`).

Every statement is PostgreSQL's (data-modifying CTEs, `unnest`, `LATERAL`, `json_agg`): every
mode of Kizuna runs on PostgreSQL, the embedded one included.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection

from audit.models import AuditEvent
from media.models import Attachment
from messaging.models import Message, ReadState, Thread
from teams.models import User

# The thread's relations that `thread_by_pk` loads with it: what their names need (titles,
# the thread serializer); their other fields load if touched.
THREAD_RELATED: tuple[Any, ...] = (
    Thread.patient.field,
    Thread.organization.field,
    Thread.network.field,
)

# A message's columns as the pages and the API read them: all but the search copy of the
# body (`body_folded`), which only search reads, in the database.
MESSAGE_FIELDS = tuple(f for f in Message._meta.concrete_fields if f.name != "body_folded")

# What `serializers.user_ref` reads of a user (its `__str__` included); the rest is deferred.
USER_REF_FIELDS = ("id", "username", "display_name", "first_name", "last_name")


def _q(name: str) -> str:
    return str(connection.ops.quote_name(name))


# A message in one of a list of threads, the list as one array parameter. Why SQL: the ORM's
# `thread_id__in` sends one parameter per thread, and planning that list took half of a
# search over 200 threads (docs/bench.md, "Search").
MESSAGE_IN_THREADS = f"{_q(Message._meta.db_table)}.{_q('thread_id')} = ANY(%s)"


@cache
def thread_by_pk() -> str:
    """The thread row by pk (first parameter) with its relations' names, ending in "AND ":
    the caller appends the gate's condition.

    Why SQL: the gate runs on every post and every history read; the ORM query with three
    joins cost more to build than to run.
    """
    table = _q(Thread._meta.db_table)
    columns = [f"{table}.{_q(str(f.column))}" for f in Thread._meta.concrete_fields]
    joins = []
    for i, field in enumerate(THREAD_RELATED):
        alias = f"kz_r{i}"
        columns.append(f"{alias}.{_q('name')}")
        joins.append(
            f" LEFT JOIN {_q(field.related_model._meta.db_table)} {alias}"
            f" ON {alias}.{_q('id')} = {table}.{_q(str(field.column))}"
        )
    return (
        f"SELECT {', '.join(columns)} FROM {table}{''.join(joins)}"
        f" WHERE {table}.{_q('id')} = %s AND "
    )


# --- read marks ---------------------------------------------------------------------------


def _read_mark_ctes(new_mark: str) -> str:
    """The read-mark rule as two CTEs, shared by `advance_read` and `post`: `previous`, the
    mark of %(author)s in %(thread)s before (row locked), and `marked`, which moves it up to
    the seq that `new_mark` selects (a SELECT tail), never back, and makes the row if
    missing. A data-modifying CTE runs whether or not the query reads it."""
    table = _q(ReadState._meta.db_table)
    return (
        f"previous AS (SELECT last_read_seq FROM {table}"
        "  WHERE user_id = %(author)s AND thread_id = %(thread)s FOR UPDATE),"
        f" marked AS (INSERT INTO {table} (user_id, thread_id, last_read_seq, updated_at)"
        f"  SELECT %(author)s::bigint, %(thread)s::bigint, {new_mark}"
        "  ON CONFLICT (user_id, thread_id) DO UPDATE"
        "  SET last_read_seq = EXCLUDED.last_read_seq, updated_at = EXCLUDED.updated_at"
        f"  WHERE {table}.last_read_seq < EXCLUDED.last_read_seq)"
    )


@cache
def advance_read() -> str:
    """Move %(author)s's read mark in %(thread)s up to %(seq)s at %(at)s; answers the mark
    before.

    Why SQL: "never backwards, made if missing, under a row lock" is one upsert with a
    condition; in the ORM it is a locked read, then an insert or an update, and a race
    between the insert of two devices.
    """
    return (
        f"WITH {_read_mark_ctes('%(seq)s::bigint, %(at)s::timestamptz')}"
        " SELECT COALESCE((SELECT last_read_seq FROM previous), 0)"
    )


# --- posting ------------------------------------------------------------------------------


@cache
def post(gate: str, audience: str) -> str:
    """A post in one statement: the thread row locked, the message inserted with the next
    seq (none if its author already used this `client_id`), the thread's `last_seq` moved,
    the author's read mark advanced and the audit row written.

    It answers the thread row, the message's id and seq (NULL when the `client_id` was
    taken), the author's read mark before it and, for a patient's thread, who receives its
    events (`audience`: a statement over the patient id "(SELECT patient_id FROM locked)",
    read under the thread's lock); no row when there is no such thread or, with `gate` (the
    access condition on the thread row, empty when the caller has checked it), when the user
    may not see it. The audit row's values are `audit.services.audit_row`'s.

    Why SQL: a post is the hottest write. As one statement it is one transaction and one
    round trip, where the ORM took a transaction, a lock, four writes and a read, each a
    round trip.
    """
    thread, message = _q(Thread._meta.db_table), _q(Message._meta.db_table)
    audit = _q(AuditEvent._meta.db_table)
    columns = ", ".join(_q(str(f.column)) for f in Thread._meta.concrete_fields)
    patient = "(SELECT patient_id FROM locked)"
    return (
        f"WITH locked AS (SELECT {columns} FROM {thread} WHERE id = %(thread)s"
        f"{f' AND {gate}' if gate else ''} FOR UPDATE),"
        f" posted AS (INSERT INTO {message} (thread_id, seq, author_id, client_id, body, kind,"
        "  priority, reply_to_id, created_at)"
        "  SELECT id, last_seq + 1, %(author)s::bigint, %(client_id)s::uuid, %(body)s::text,"
        "  %(kind)s::text, %(priority)s::text, %(reply_to)s::bigint, %(at)s::timestamptz"
        "  FROM locked ON CONFLICT (author_id, client_id) DO NOTHING RETURNING id, seq),"
        f" counted AS (UPDATE {thread} SET last_seq = posted.seq, last_message_at = %(at)s"
        f"  FROM posted WHERE {thread}.id = %(thread)s),"
        f" {_read_mark_ctes('seq, %(at)s::timestamptz FROM posted')},"
        f" audited AS (INSERT INTO {audit} (actor_id, action, patient_id, object_type,"
        "  object_id, detail, at, ip_address, user_agent)"
        f"  SELECT %(actor)s::bigint, %(action)s::text, {patient}, %(object_type)s::text,"
        "  id::text, %(detail)s::text || seq, %(at)s::timestamptz, %(ip)s::inet,"
        "  %(user_agent)s::text FROM posted)"
        f" SELECT locked.*, posted.id, posted.seq,"
        " COALESCE((SELECT last_read_seq FROM previous), 0),"
        f" ARRAY(SELECT user_id FROM ({audience}) kz_r)"
        " FROM locked LEFT JOIN posted ON TRUE"
    )


# --- reading messages ---------------------------------------------------------------------


def _messages(source: str, order: str) -> str:
    """Messages with their author, the seq of their reply target, their mentions (as JSON),
    their read count and whether they carry photos, in one statement; `source` is a subquery
    that picks the messages (`m`).

    `read_by` counts the read marks at or past the message other than its author's, as
    `selectors.attach_read_by` does; tests hold the two equal.

    Why SQL: compiling the equivalent ORM queries (a page, its mentions, its read counts)
    cost more than running them, on every history read. The messages are picked in a
    subquery of their own, which can only walk the (thread, seq) index and stop at its
    limit: as one flat query, a thread that grew since the planner last counted it was
    joined and sorted whole.
    """
    message, user = _q(Message._meta.db_table), _q(User._meta.db_table)
    mentions = _q(Message.mentions.through._meta.db_table)
    read_state = _q(ReadState._meta.db_table)
    photos = _q(Attachment._meta.db_table)
    message_cols = ", ".join(f"m.{_q(str(f.column))}" for f in MESSAGE_FIELDS)
    author_cols = ", ".join(f"a.{_q(name)}" for name in USER_REF_FIELDS)
    mention_cols = ", ".join(f"mu.{_q(name)}" for name in USER_REF_FIELDS)
    return (
        f"SELECT {message_cols}, {author_cols},"
        # A subquery, not a join: a join may be planned as a hash over the whole table.
        f" (SELECT r.seq FROM {message} r WHERE r.id = m.reply_to_id),"
        f" (SELECT json_agg(json_build_array({mention_cols}) ORDER BY mm.id)"
        f"  FROM {mentions} mm JOIN {user} mu ON mu.id = mm.user_id"
        f"  WHERE mm.message_id = m.id),"
        f" (SELECT count(*) FROM {read_state} rs WHERE rs.thread_id = m.thread_id"
        f"  AND rs.last_read_seq >= m.seq AND rs.user_id <> m.author_id),"
        # Whether to read its photos: a page without any costs no further query.
        f" EXISTS (SELECT 1 FROM {photos} p WHERE p.message_id = m.id)"
        f" FROM ({source.format(message=message)}) m"
        f" JOIN {user} a ON a.id = m.author_id"
        f" ORDER BY {order}"
    )


@cache
def messages_page(order: str) -> str:
    """One thread's messages in a seq range, up to a limit: parameters thread, low, high,
    limit; `order` is "ASC" or "DESC". The history page and its scrolling."""
    if order not in ("ASC", "DESC"):
        raise ValueError(order)
    return _messages(
        "SELECT * FROM {message} WHERE thread_id = %s AND seq > %s AND seq < %s"
        f" ORDER BY seq {order} LIMIT %s",
        f"m.seq {order}",
    )


@cache
def messages_missed() -> str:
    """For each (thread, seq) pair (two arrays), the messages after that seq, oldest first,
    up to a limit per thread (third parameter). The sync after every reconnect.

    Why one statement for all threads: a LATERAL per thread stops at its limit on the
    (thread, seq) index, where a window function read every missed row.
    """
    return _messages(
        "SELECT x.* FROM unnest(%s::bigint[], %s::bigint[]) AS k(thread_id, after)"
        " CROSS JOIN LATERAL (SELECT * FROM {message} WHERE thread_id = k.thread_id"
        " AND seq > k.after ORDER BY seq LIMIT %s) x",
        "m.thread_id, m.seq",
    )
