"""teams' reactions to Django's signals: a login stamps the session (teams.sessions)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest

from teams import sessions
from teams.models import User


def stamp_session(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    # Django has already given the session a new key (login() cycles it) when this runs.
    sessions.start(request.session, user)


def connect() -> None:
    user_logged_in.connect(stamp_session, dispatch_uid="teams.stamp_session")
