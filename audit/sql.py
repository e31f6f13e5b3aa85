"""The statements of the audit chain that the ORM cannot say: table and advisory locks.

Why SQL: Django has no API for `LOCK TABLE` or PostgreSQL's advisory locks.
"""

from __future__ import annotations

from django.db import connection

from audit.models import AuditEvent

# The advisory lock that "a sealer runs" holds: any bigint no other code takes (no other code
# in the project takes advisory locks).
SEALER_LOCK_KEY = 0x6B7A_A0D1_7000_0001
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout passes


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
