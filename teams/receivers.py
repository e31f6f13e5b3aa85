"""How teams reacts to Django's sign-in and sign-out, connected from `TeamsConfig.ready`.

- A login stamps the session with its login time and idle limit (`teams.sessions`), then
  records it (`UserSession`) with its device, so the person can list and end it, and a
  password change can end it.
- A logout ends that session's row and the API tokens asked for from it, and announces it
  (messaging closes its sockets).
- A broken audit chain (`audit.signals.chain_broken`) is mailed to every organization's
  administrators: the audit log knows no organizations.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest

from audit import services as audit_services
from audit.signals import chain_broken
from teams import services, sessions
from teams.models import User


def stamp_session(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    # Django has already given the session a new key (login() cycles it) when this runs.
    sessions.start(request.session, user)


def on_logged_in(sender: Any, *, request: HttpRequest, user: User, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        services.session_opened(user, session_key=session.session_key)


def on_logged_out(sender: Any, *, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        services.session_logged_out(user, session_key=session.session_key)


def on_chain_broken(sender: Any, *, report: Any, **kwargs: Any) -> None:
    services.administrators_mail(
        audit_services.chain_broken_subject(), audit_services.chain_broken_body(report)
    )


def connect() -> None:
    # The stamp first: the session is then saved with it when its record is made.
    user_logged_in.connect(stamp_session, dispatch_uid="teams.stamp_session")
    user_logged_in.connect(on_logged_in, dispatch_uid="kz-session-opened")
    user_logged_out.connect(on_logged_out, dispatch_uid="kz-session-logged-out")
    chain_broken.connect(on_chain_broken, dispatch_uid="kz-chain-broken-mail")
