"""The session rules: an idle timeout and an absolute lifetime, kept in the session itself.

- **Absolute lifetime**: `SESSION_COOKIE_AGE` from the login (`login_at`), whatever happens
  after; the cookie's expiry is set to the same moment, but the server decides.
- **Idle timeout**: `KIZUNA_SESSION_IDLE_MINUTES`, or an organization's own
  `session_idle_minutes`; the strictest of the person's active organizations applies. It is
  worked out at login and again whenever the last-activity stamp moves.
- **What counts as activity**: a user's action only. Page loads, form posts, htmx requests,
  API calls and posts over the socket count. Requests the page makes by itself carry
  `X-Kizuna-Background: 1` (the thread's resync and its read marks, which fire when a message
  arrives on a visible page) and do not count; neither do socket pings or resyncs. So a nurse
  who reads and writes stays signed in, and a tablet left open on a busy thread still locks.

- **Second factor**: a session signed in with a password alone is `UNVERIFIED` until its
  person passes the second factor (`teams.second_factor`), which marks the session. Such a
  session reaches only the sign-in steps: no page, API route or socket with patient data.

`teams.middleware` applies the rules to HTTP requests, `messaging.consumers` to live sockets
(on each keepalive tick, and a post frame counts as activity).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Min, Value
from django.db.models.functions import Coalesce

from teams.models import Membership, User

LOGIN_AT = "kizuna_login_at"
SEEN_AT = "kizuna_seen_at"
IDLE_SECONDS = "kizuna_idle_seconds"
BACKGROUND_HEADER = "HTTP_X_KIZUNA_BACKGROUND"
# The activity stamp moves at most this often, so that a burst of requests writes the
# session once; a session may therefore end up to this much before its idle limit.
TOUCH_EVERY_SECONDS = 30
# A live socket re-reads its session this often (at most), so an idle, expired or logged-out
# session's socket closes within a minute even when its pings are set further apart.
SOCKET_CHECK_SECONDS = 30.0
# The second factor this session passed: the device's persistent id (django-otp's form).
SECOND_FACTOR = "kizuna_second_factor"


class Verdict(Enum):
    OK = "ok"
    IDLE = "idle"
    EXPIRED = "expired"
    UNVERIFIED = "unverified"  # signed in with a password, second factor still to pass


def now() -> float:
    return time.time()


def default_idle_seconds() -> int:
    return int(settings.KIZUNA_SESSION_IDLE_MINUTES) * 60


def idle_seconds_for(user: User) -> int:
    """The idle timeout of `user`: the strictest of their active organizations' settings."""
    default = int(settings.KIZUNA_SESSION_IDLE_MINUTES)
    minutes = Membership.objects.filter(user=user, is_active=True).aggregate(
        m=Min(Coalesce("organization__session_idle_minutes", Value(default)))
    )["m"]
    return int(minutes if minutes is not None else default) * 60


def start(session: SessionBase, user: User) -> None:
    """At login (the session key is already new): stamp the login and the first activity."""
    at = now()
    session[LOGIN_AT] = at
    session[SEEN_AT] = at
    session[IDLE_SECONDS] = idle_seconds_for(user)
    # A fixed moment, not an age: later writes of the session must not push the cookie on.
    session.set_expiry(datetime.fromtimestamp(at + int(settings.SESSION_COOKIE_AGE), tz=UTC))


def verdict(data: Mapping[str, Any], at: float | None = None) -> Verdict:
    """Whether a signed-in session may go on. A session without the stamps (made before
    these rules) is treated as expired: it cannot prove when it began."""
    at = now() if at is None else at
    login_at = data.get(LOGIN_AT)
    seen_at = data.get(SEEN_AT)
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        return Verdict.EXPIRED
    if at - login_at >= int(settings.SESSION_COOKIE_AGE):
        return Verdict.EXPIRED
    idle = data.get(IDLE_SECONDS)
    limit = idle if isinstance(idle, int) and idle > 0 else default_idle_seconds()
    if at - seen_at >= limit:
        return Verdict.IDLE
    if not data.get(SECOND_FACTOR):
        return Verdict.UNVERIFIED
    return Verdict.OK


def mark_second_factor(session: SessionBase, device_id: str) -> None:
    """The person of this session has just passed the second factor with `device_id`."""
    session[SECOND_FACTOR] = device_id


def touch(session: SessionBase, user: User) -> None:
    """A user action: move the activity stamp (at most every TOUCH_EVERY_SECONDS)."""
    at = now()
    seen_at = session.get(SEEN_AT)
    if isinstance(seen_at, int | float) and at - seen_at < TOUCH_EVERY_SECONDS:
        return
    session[SEEN_AT] = at
    session[IDLE_SECONDS] = idle_seconds_for(user)


def _stored(session_key: str | None) -> SessionBase | None:
    if not session_key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    return store


def check_stored(session_key: str | None, user: User, *, activity: bool = False) -> Verdict:
    """For a live socket: the verdict on its session as stored now (the cookie it connected
    with may since have been logged out, idled or expired), and, for a user action over the
    socket, a touch. A session that is gone or belongs to someone else counts as expired."""
    store = _stored(session_key)
    if store is None or store.get(SESSION_KEY) != str(user.pk):
        return Verdict.EXPIRED
    result = verdict(store)
    if result is Verdict.OK and activity:
        before = store.get(SEEN_AT)
        touch(store, user)
        if store.get(SEEN_AT) != before:
            store.save()
    return result
