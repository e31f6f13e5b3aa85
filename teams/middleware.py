"""Ends idle and expired sessions on HTTP requests, holds password-only sessions at the
second factor, and records user activity.

The rules are in teams.sessions. An ended session is flushed (the person is logged out);
a page goes to the login page with a message saying why, an htmx request is sent there with
HX-Redirect, and the API answers 401 in its one error shape. Only sessions are judged here:
token clients (the API's other scheme) have no session to end.

A session signed in with a password only (`Verdict.UNVERIFIED`) reaches the second-factor
pages, logout and the static shell, nothing else: a page goes to the second-factor step, the
API answers 403 `second_factor_required`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import reverse
from django.utils.translation import gettext as _

from config.api import error_body
from teams import sessions
from teams.identity import signed_in

API_PREFIX = "/api/"
# What a session that has not passed the second factor may reach: the steps themselves,
# signing out, the language switch, the API's token routes (they take their own
# credentials) and the page shell's files.
BEFORE_SECOND_FACTOR = (
    "/account/two-factor/",
    "/logout/",
    "/login/",
    "/i18n/",
    "/api/v1/auth/",
    "/static/",
    "/sw.js",
    "/manifest.webmanifest",
    "/offline/",
)


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.get_response(request)
        verdict = sessions.verdict(request.session)
        if verdict is sessions.Verdict.UNVERIFIED:
            if not request.path.startswith(BEFORE_SECOND_FACTOR):
                return self._second_factor(request)
        elif verdict is not sessions.Verdict.OK:
            return self._ended(request, verdict)
        if request.META.get(sessions.BACKGROUND_HEADER) != "1":
            sessions.touch(request.session, signed_in(request))
        return self.get_response(request)

    def _second_factor(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith(API_PREFIX):
            text = _("二段階認証を済ませてください。")
            return JsonResponse(error_body("second_factor_required", text), status=403)
        target = f"{reverse('two-factor')}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request"):
            redirect = HttpResponse(status=204)
            redirect["HX-Redirect"] = target
            return redirect
        return HttpResponseRedirect(target)

    def _ended(self, request: HttpRequest, verdict: sessions.Verdict) -> HttpResponseBase:
        if verdict is sessions.Verdict.IDLE:
            text = _(
                "操作のない時間が続いたため、ログアウトしました。もう一度ログインしてください。"
            )
        else:
            text = _("ログインの有効期限が切れました。もう一度ログインしてください。")
        logout(request)
        if request.path.startswith(API_PREFIX):
            response = JsonResponse(error_body("session_expired", text), status=401)
            response["WWW-Authenticate"] = "Token"
            return response
        messages.warning(request, text)
        if request.headers.get("HX-Request"):
            # htmx would swap a redirect's login page into the section: send the page there.
            redirect = HttpResponse(status=204)
            redirect["HX-Redirect"] = reverse(settings.LOGIN_URL)
            return redirect
        return redirect_to_login(request.get_full_path())
