"""Every hand-written SQL statement of teams, each with the reason it is not the ORM.

The figures behind the reasons are in docs/bench.md ("Why some statements are SQL").
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from rest_framework.authtoken.models import Token

from teams.models import User


@cache
def token_user() -> str:
    """The user of an API token, by key (one parameter), with all the user's columns.

    Why SQL: DRF's `TokenAuthentication` compiles an ORM query (the token with its user) on
    every request; on the hot API paths (posting, history) that cost more than the query.
    Plain SQL is prepared once per connection.
    """
    quote = connection.ops.quote_name
    user_table = quote(User._meta.db_table)
    columns = ", ".join(f"u.{quote(str(f.column))}" for f in User._meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {quote(Token._meta.db_table)} t"
        f" JOIN {user_table} u ON u.{quote('id')} = t.{quote('user_id')}"
        f" WHERE t.{quote('key')} = %s"
    )
