"""Ends idle and expired sessions on HTTP requests, and records user activity.

The rules are in teams.sessions. An ended session is flushed (the person is logged out);
a page goes to the login page with a message saying why, an htmx request is sent there with
HX-Redirect, and the API answers 401 in its one error shape. Only sessions are judged here:
token clients (the API's other scheme) have no session to end.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from config.api import error_body
from teams import sessions
from teams.identity import signed_in

API_PREFIX = "/api/"


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.get_response(request)
        verdict = sessions.verdict(request.session)
        if verdict is not sessions.Verdict.OK:
            return self._ended(request, verdict)
        if request.META.get(sessions.BACKGROUND_HEADER) != "1":
            sessions.touch(request.session, signed_in(request))
        return self.get_response(request)

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
