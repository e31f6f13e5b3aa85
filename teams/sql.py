"""Every hand-written SQL statement of teams, each with the reason it is not the ORM.

The figures behind the reasons are in docs/bench.md ("Why some statements are SQL").
"""

from __future__ import annotations

from functools import cache

from django.db import connection

from teams.models import ApiToken, User


@cache
def token_user() -> str:
    """An API token by digest, with its user's columns, moving its last use forward.

    Parameters: the digest, now, the touch cutoff (last use older than this is moved to now),
    the idle cutoff (twice: last use older than this has expired). Columns: the token's id,
    its last use, whether it is still fresh, then all the user's columns.

    Why SQL: DRF's `TokenAuthentication` compiles an ORM query (the token with its user) on
    every request; on the hot API paths (posting, history) that cost more than the query.
    Plain SQL is prepared once per connection. The last use is written by the same statement
    (a data-modifying WITH, which PostgreSQL runs whether or not its rows are read), and only
    when the stored value is older than the touch cutoff: a request within the minute writes
    nothing, and none costs a second round trip.
    """
    quote = connection.ops.quote_name
    token_table = quote(ApiToken._meta.db_table)
    user_table = quote(User._meta.db_table)
    last_used = quote("last_used_at")
    columns = ", ".join(f"u.{quote(str(f.column))}" for f in User._meta.concrete_fields)
    return (
        f"WITH t AS (SELECT {quote('id')}, {quote('user_id')}, {last_used}"
        f" FROM {token_table} WHERE {quote('digest')} = %s),"
        f" touched AS (UPDATE {token_table} a SET {last_used} = %s FROM t"
        f" WHERE a.{quote('id')} = t.{quote('id')} AND t.{last_used} < %s"
        f" AND t.{last_used} >= %s RETURNING a.{quote('id')})"
        f" SELECT t.{quote('id')}, t.{last_used}, t.{last_used} >= %s, {columns} FROM t"
        f" JOIN {user_table} u ON u.{quote('id')} = t.{quote('user_id')}"
    )
