"""Who is asking: the two types of the acting user, and the person behind a request.

- `User` (teams.models): a signed-in person. Services, which act on someone's behalf, take one.
- `AnyUser`: a `User` or Django's `AnonymousUser`. Gates and selectors that answer "nothing"
  for someone not signed in (they check `user.is_authenticated`) take one, so any request's
  user may be handed to them as it is.

Pages and the API are behind `login_required` and `IsAuthenticated`, so their request's user
is signed in; `signed_in(request)` says so to the type checker, once per view, and refuses an
anonymous user should a view ever lose its guard.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from teams.models import User

__all__ = ["AnyUser", "signed_in"]

AnyUser: TypeAlias = User | AnonymousUser


def signed_in(request: HttpRequest) -> User:
    """The signed-in person making `request` (a page's or the API's): `PermissionDenied` for
    an anonymous user, which `login_required` and `IsAuthenticated` already turned away."""
    user = request.user
    if isinstance(user, AnonymousUser):
        raise PermissionDenied
    return user
