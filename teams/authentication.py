"""API token authentication (`Authorization: Token <key>`) in one prepared statement.

DRF's `TokenAuthentication` compiles an ORM query (the token with its user) on every request;
on the hot API paths (posting, history) that cost more than the query itself. This reads the
same row with plain SQL (`teams.sql.token_user`), which psycopg prepares once per connection.
An unknown key or an inactive user goes to DRF's own check, which refuses it with DRF's
messages.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connection
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from teams import sql
from teams.models import User


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        with connection.cursor() as cursor:
            cursor.execute(sql.token_user(), [key])
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
