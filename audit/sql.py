"""The statements of the audit chain that the ORM cannot say: table and advisory locks, and
a batch of seals inserted from arrays.

Why SQL: Django has no API for `LOCK TABLE` or PostgreSQL's advisory locks; and `bulk_create`
sends five parameters per seal, which cost more to build, send and parse than to hash.
"""

from __future__ import annotations

from django.db import connection

from audit.models import AuditEvent, AuditSeal

# The advisory lock that "a sealer runs" holds: any bigint no other code takes (no other code
# in the project takes advisory locks).
SEALER_LOCK_KEY = 0x6B7A_A0D1_7000_0001
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout passes


def at_as_utc_text() -> str:
    """An audit row's `at` as `audit.chain.utc_text` spells it
    (2026-12-03T05:03:03.123456+00:00), for a queryset's annotation."""
    column = (
        f"{connection.ops.quote_name(AuditEvent._meta.db_table)}.{connection.ops.quote_name('at')}"
    )
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def settled_max_id(lock_timeout_ms: int) -> int:
    """The highest audit row id at or below which every row is committed or rolled back for
    good (0 for an empty table). Waiting longer than `lock_timeout_ms` raises
    `OperationalError` with SQLSTATE `LOCK_NOT_AVAILABLE` (`is_lock_timeout`).

    `SHARE` mode waits for every transaction that has inserted audit rows to end (an
    INSERT holds `ROW EXCLUSIVE` from before it draws its id until its commit), and holds
    back new inserts only while it waits. The caller must commit right after, so that the
    lock is let go at once: call it in a transaction of its own.
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        # SET LOCAL: the limit ends with this transaction, whatever the caller does next.
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout_ms)}ms"])
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608 (a table name)
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def is_lock_timeout(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE


def try_sealer_lock() -> bool:
    """Take the sealer's lock for the rest of this transaction; False when another sealer
    holds it (that one seals the same rows, so this one has nothing to do)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
        row = cursor.fetchone()
    return bool(row and row[0])


def insert_seals(first_seq: int, event_ids: list[int], first_prev: bytes, hashes: bytes) -> None:
    """Insert the seals of `event_ids`, numbered from `first_seq`, in one statement: `hashes`
    is their hashes end to end (32 bytes each), and each seal's previous hash is the one
    before it in `hashes` (`first_prev` for the first).

    Why this shape: bulk_create sent five parameters per seal (20 000 for a batch), and an
    array of bytea is escaped element by element on the way out; one bytea and one array of
    bigints cost the driver next to nothing.
    """
    table = connection.ops.quote_name(AuditSeal._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (seq, event_id, prev_hash, hash, sealed_at)"  # noqa: S608
            " SELECT %(first)s::bigint + u.i - 1, u.e,"
            "  CASE WHEN u.i = 1 THEN %(prev)s::bytea"
            "   ELSE substring(%(hashes)s::bytea FROM (u.i::int - 2) * 32 + 1 FOR 32) END,"
            "  substring(%(hashes)s::bytea FROM (u.i::int - 1) * 32 + 1 FOR 32), now()"
            " FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS u(e, i)",
            {"first": first_seq, "ids": event_ids, "prev": first_prev, "hashes": hashes},
        )
