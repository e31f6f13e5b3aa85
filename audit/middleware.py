"""Sets the audit context (`audit.context`) for the length of each HTTP request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import current_request, request_context


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(request_context(request))
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
