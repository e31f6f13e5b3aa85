"""The headers every answer carries beyond Django's own: the Content-Security-Policy with the
live socket's origin, Permissions-Policy, and `Cache-Control: private, no-store` on signed-in
answers.

The policy itself is in settings (`CONTENT_SECURITY_POLICY`, django-csp's format); this module
only adds what depends on the request. Both middlewares sit after whitenoise, so static files
keep their own caching and carry no policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
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

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        super().__init__(get_response)
        self._plain: dict[tuple[str, bool], str] = {}

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

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """The common answer (no nonce used, no per-view policy, no report-only policy) takes
        its header from a cache per host and scheme: django-csp builds the policy anew for
        every answer, which cost a noticeable part of an API request. Anything else is
        django-csp's own work."""
        plain = (
            getattr(request, "_csp_nonce", None) is None
            and not any(hasattr(response, name) for name in _PER_VIEW)
            and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            and not (settings.DEBUG and response.status_code in (404, 500))
        )
        if not plain:
            return super().process_response(request, response)
        try:
            host = request.get_host()
        except DisallowedHost:
            return super().process_response(request, response)
        if HEADER not in response and not request.path_info.startswith(_excluded()):
            response[HEADER] = self._plain_policy(request, response, host, request.is_secure())
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def _plain_policy(
        self, request: HttpRequest, response: HttpResponseBase, host: str, secure: bool
    ) -> str:
        key = (host, secure)
        policy = self._plain.get(key)
        if policy is None:
            policy = build_policy(**asdict(self.get_policy_parts(request, response)))
            if len(self._plain) < _PLAIN_CACHE_SIZE:  # hosts come from ALLOWED_HOSTS
                self._plain[key] = policy
        return policy


# Response attributes by which a view changes the policy (django-csp's decorators).
_PER_VIEW = ("_csp_exempt", "_csp_config", "_csp_update", "_csp_replace")
_PLAIN_CACHE_SIZE = 64


def _excluded() -> tuple[str, ...]:
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    return tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ())


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
