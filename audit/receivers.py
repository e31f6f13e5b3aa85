"""How the audit log hears Django's sign-in signals, connected from `AuditConfig.ready`.

Both ways in call `authenticate()`, which announces a failure (`user_login_failed`); a web
sign-in and sign-out announce themselves (`user_logged_in`, `user_logged_out`). The API token
login makes no session, so teams audits its success itself (`teams.services.token_create`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from audit import services


def on_logged_in(sender: Any, *, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    services.audit_sign_in(user, request)


def on_logged_out(sender: Any, *, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        services.audit_sign_out(user, request)


def on_login_failed(
    sender: Any, *, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    services.audit_sign_in_failed(credentials, request)


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="kz-audit-sign-in")
    user_logged_out.connect(on_logged_out, dispatch_uid="kz-audit-sign-out")
    user_login_failed.connect(on_login_failed, dispatch_uid="kz-audit-sign-in-failed")
