"""Django's PostgreSQL backend, with a health check that costs no round trip.

Each Daphne process does its database work on one sync thread (`config.asgi`), so it keeps one
persistent connection. Django's health check (`CONN_HEALTH_CHECKS`) runs `SELECT 1` before the
connection's first use in each request or socket call: a round trip per post. Here the check
looks at the connection without talking to the server: it must be open, and its socket
must have nothing to read. A connection between queries is never sent anything unasked, except
when the server is going away (a restart, a failover or `pg_terminate_backend` sends a FATAL
notice and closes), so a readable socket means the connection is gone: it is closed and the
next query opens a new one, and no request gets the error.

After an error other than a data or integrity error, Django still checks with a real query
(`is_usable`), as it should: the error may have come from the network.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


def connection_looks_alive(connection: object) -> bool:
    """True if the psycopg `connection` is open and, between queries, has nothing to read."""
    if connection is None or getattr(connection, "closed", True):
        return False
    status = connection.info.transaction_status  # type: ignore[attr-defined]
    if status == pq.TransactionStatus.UNKNOWN:
        return False
    if status == pq.TransactionStatus.ACTIVE:
        return True  # a query is under way: its answer is what there is to read
    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return not readable


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        enabled = self.health_check_enabled  # type: ignore[attr-defined]
        if self.connection is None or not enabled or self.health_check_done:  # type: ignore[has-type]
            return
        if not connection_looks_alive(self.connection):
            self.close()
        self.health_check_done = True
