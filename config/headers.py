"""The headers every answer carries beyond Django's own: the Content-Security-Policy with the
live socket's origin, Permissions-Policy, and `Cache-Control: private, no-store` on signed-in
answers.

The policy itself is in settings (`CONTENT_SECURITY_POLICY`, django-csp's format); this module
only adds what depends on the request. Both middlewares sit after whitenoise, so static files
keep their own caching and carry no policy.
"""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase

NO_STORE = "private, no-store"
API_PREFIX = "/api/"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the page's own ws(s):// origin added to connect-src.

    CSP level 3 lets 'self' match the same host's ws(s) scheme, but not every browser that
    tablets run does; naming the origin keeps the live socket working on all of them.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # the answer is a refusal; 'self' is enough for it
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*(update.get("connect-src") or []), f"{scheme}://{host}"]
        parts.update = update
        return parts


class SecurityHeadersMiddleware:
    """Permissions-Policy on every answer, and no-store on every answer to someone signed in.

    Whatever a signed-in person is shown may carry patient data, so no browser cache, proxy
    or back-forward cache may keep it. A view that sets its own Cache-Control keeps it (the
    service worker's no-cache); the service worker keeps its own stamped copy of a patient
    page for offline reading, which Cache-Control does not govern. Token clients count as
    signed in: DRF puts the token's user on the request before the answer comes back here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.permissions_policy: str = settings.PERMISSIONS_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        if "Cache-Control" not in response and _private(request):
            response["Cache-Control"] = NO_STORE
        return response


def _private(request: HttpRequest) -> bool:
    """Whether the answer may carry patient data or credentials: every API answer (a token
    is one), and every answer to someone signed in, by token or by session (a view without
    authentication, like the token login, leaves an anonymous user on the request even when
    the browser sent its session)."""
    if request.path.startswith(API_PREFIX):
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    session = getattr(request, "session", None)
    return session is not None and SESSION_KEY in session
