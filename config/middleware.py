"""The door of every HTTP request: what a client sends outside the body, checked once.

The first middleware, so nothing after it (sessions, the token lookup, the audit context,
pages and API views) ever meets:
- a URL (path and query) longer than `KIZUNA_MAX_URL_BYTES`: 414. Daphne itself refuses a
  request line and headers over 16 KiB with a bare 400 before the app sees them;
- a NUL character in the path, the query string, a header or a form post (or a lone
  surrogate, which Django's decoding already replaces in those): 400. PostgreSQL refuses NUL
  in text, so a search for "a%00b" used to be a 500;
- a query string or form with too many fields, or a form too large (Django raises
  `SuspiciousOperation` when they are first read): 400 here, in the right shape.
A cookie holding such text is dropped (the request goes on as without it): a browser may
keep a mangled cookie, and answering every request of that browser with 400 would lock
its user out.

API paths answer in the one error shape (`config.api.error_body`) with field errors; pages
with an error page that needs no request context (sessions and users are not loaded yet),
both in the language the request asks for (LocaleMiddleware has not run yet either).
A refusal carries the same security headers as any other answer (the Content-Security-
Policy, Permissions-Policy, nosniff, the referrer and opener policies, HSTS over TLS,
X-Frame-Options): it is passed through the middlewares that set them (`REFUSAL_HEADERS`),
which read nothing of the request that could hurt.
JSON bodies are checked by the API's parser (`config.api.JSONParser`).

Also the last middleware, `ThrottledPageMiddleware`: a page refused by `teams.throttle` gets
the 429 page with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from config.api import error_body
from config.errors import Throttled
from config.untrusted import BAD_TEXT_MESSAGE, bad_text_fields, has_bad_text
from config.web import too_many_requests

DEFAULT_MAX_URL_BYTES = 8 * 1024
API_PREFIX = "/api/"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# The middlewares (of settings.MIDDLEWARE) that put the security headers on an answer, outer
# first as they are listed there. Whitenoise is not among them: a refusal is no static file.
REFUSAL_HEADERS = (
    "django.middleware.security.SecurityMiddleware",
    "config.headers.ContentSecurityPolicyMiddleware",
    "config.headers.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)
_REFUSAL = "_kizuna_refusal"


def max_url_bytes() -> int:
    return int(getattr(settings, "KIZUNA_MAX_URL_BYTES", DEFAULT_MAX_URL_BYTES))


def _the_refusal(request: HttpRequest) -> HttpResponse:
    refusal: HttpResponse = getattr(request, _REFUSAL)
    return refusal


class UntrustedInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        headed: Callable[[HttpRequest], HttpResponse] = _the_refusal
        for path in reversed([p for p in REFUSAL_HEADERS if p in settings.MIDDLEWARE]):
            headed = import_string(path)(headed)
        self.with_headers = headed

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            setattr(request, _REFUSAL, refusal)
            return self.with_headers(request)
        return self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path
        query = request.META.get("QUERY_STRING", "")
        # The path is already percent-decoded; its UTF-8 length is at most the raw one's.
        if len(path.encode("utf-8", "replace")) + len(query) > max_url_bytes():
            return self.answer(request, 414, "uri_too_long", _("URLが長すぎます。"))
        for name in [n for n, v in request.COOKIES.items() if has_bad_text(n + v)]:
            del request.COOKIES[name]
        if has_bad_text(path):
            return self.answer(request, 400, "invalid", _("URLに使用できない文字があります。"))
        headers = [k for k, v in request.META.items() if k.startswith("HTTP_") and _bad(v)]
        if headers:
            return self.answer(request, 400, "invalid", _("ヘッダーが不正です。"))
        try:
            fields = bad_text_fields(_pairs(request.GET))
            if request.method == "POST" and request.content_type in FORM_TYPES:
                fields.update(bad_text_fields(_pairs(request.POST)))
        except SuspiciousOperation:
            # Too many fields or too large a form: Django's limits, read here first.
            return self.answer(request, 400, "invalid", _("リクエストが大きすぎます。"))
        if fields:
            return self.answer(request, 400, "invalid", _("入力が不正です。"), fields)
        return None

    def answer(
        self,
        request: HttpRequest,
        status: int,
        code: str,
        message: Any,
        fields: dict[str, list[Any]] | None = None,
    ) -> HttpResponse:
        # This runs before LocaleMiddleware: the refusal picks the request's language itself,
        # only when there is one to say (working it out costs more than all the checks).
        with translation.override(translation.get_language_from_request(request)):
            return self._answer(request, status, code, message, fields)

    def _answer(
        self,
        request: HttpRequest,
        status: int,
        code: str,
        message: Any,
        fields: dict[str, list[Any]] | None,
    ) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            shown = {k: [str(m) for m in v] for k, v in (fields or {}).items()}
            return JsonResponse(
                error_body(code, message, shown),
                status=status,
                json_dumps_params={"ensure_ascii": False},
            )
        context = {
            "status": status,
            "message": message,
            "fields": sorted((fields or {}).keys()),
            "bad_text": BAD_TEXT_MESSAGE,
        }
        html = render_to_string("request_error.html", context)
        return HttpResponse(html, status=status)


def _bad(value: Any) -> bool:
    return isinstance(value, str) and has_bad_text(value)


def _pairs(data: Any) -> Iterable[tuple[str, str]]:
    return ((k, v) for k, values in data.lists() for v in values if isinstance(v, str))


class ThrottledPageMiddleware:
    """A page that refuses with `config.errors.Throttled` (the login form while locked, a
    search or a post over its rate) answers with the 429 page and `Retry-After`. The API
    renders the same refusal in its error shape (`config.api.exception_handler`); this only
    sees what a page lets through."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Throttled):
            return too_many_requests(request, exception)
        return None
