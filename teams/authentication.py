"""API token authentication (`Authorization: Token <key>`) in one prepared statement.

DRF's `TokenAuthentication` compiles an ORM query (the token with its user) on every request;
on the hot API paths (posting, history) that cost more than the query itself. This reads the
same row with plain SQL, which psycopg prepares once per connection. An unknown key or an
inactive user goes to DRF's own check, which refuses it with DRF's messages.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from teams.models import User


@cache
def _token_user_sql() -> str:
    quote = connection.ops.quote_name
    user_table = quote(User._meta.db_table)
    columns = ", ".join(f"u.{quote(str(f.column))}" for f in User._meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {quote(Token._meta.db_table)} t"
        f" JOIN {user_table} u ON u.{quote('id')} = t.{quote('user_id')}"
        f" WHERE t.{quote('key')} = %s"
    )


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        with connection.cursor() as cursor:
            cursor.execute(_token_user_sql(), [key])
            row = cursor.fetchone()
        if row is None:
            return super().authenticate_credentials(key)  # raises AuthenticationFailed
        user = User.from_db(
            DEFAULT_DB_ALIAS, [f.attname for f in User._meta.concrete_fields], list(row)
        )
        if not user.is_active:
            return super().authenticate_credentials(key)  # raises AuthenticationFailed
        # `request.auth`: the token row as read (its creation time deferred).
        return user, Token.from_db(DEFAULT_DB_ALIAS, ["key", "user_id"], [key, user.pk])
