"""API token authentication (`Authorization: Token <key>`) in one prepared statement.

DRF's `TokenAuthentication` compiles an ORM query (the token with its user) on every request;
on the hot API paths (posting, history) that cost more than the query itself. This reads the
token's row and its user with plain SQL (`teams.sql.token_user`), which psycopg prepares once
per connection, and which also moves the token's last use forward when it is a minute old.

Refused, with 401 and `WWW-Authenticate: Token` (the first authentication class names the
scheme): an unknown key, a token idle for longer than `KIZUNA_API_TOKEN_IDLE_SECONDS` (it is
deleted then), and the token of an inactive user.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from teams import sql
from teams.models import ApiToken, User, token_digest


def idle_seconds() -> int:
    return int(settings.KIZUNA_API_TOKEN_IDLE_SECONDS)


def touch_seconds() -> int:
    return int(getattr(settings, "KIZUNA_API_TOKEN_TOUCH_SECONDS", 60))


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        now = timezone.now()
        idle_after = now - dt.timedelta(seconds=idle_seconds())
        touch_before = now - dt.timedelta(seconds=touch_seconds())
        with connection.cursor() as cursor:
            cursor.execute(
                sql.token_user(), [token_digest(key), now, touch_before, idle_after, idle_after]
            )
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("トークンが無効です。"))
        token_id, last_used_at, fresh, *user_row = row
        if not fresh:
            ApiToken.objects.filter(pk=token_id).delete()
            raise exceptions.AuthenticationFailed(
                _("トークンの有効期限が切れました。もう一度ログインしてください。")
            )
        user = User.from_db(
            DEFAULT_DB_ALIAS, [f.attname for f in User._meta.concrete_fields], user_row
        )
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("このアカウントは無効です。"))
        # `request.auth`: the token row as read (only what the statement returned).
        token = ApiToken.from_db(
            DEFAULT_DB_ALIAS,
            ["id", "user_id", "last_used_at"],
            [token_id, user.pk, now if last_used_at < touch_before else last_used_at],
        )
        return user, token
