"""Sets the audit context (`audit.context`) for the length of each HTTP request, and audits
the refusals (403, 404) answered on patient and thread routes.

The refusals are audited here, once, rather than in every view: each adapter renders a
refusal its own way (the API's error shape, the pages' 403 and 404 pages), but all of them
leave through this middleware as a status code, with the route's arguments on the request.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import current_request, request_context
from audit.services import REFUSED_STATUSES, audit_refused_request


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(request_context(request))
        try:
            response = self.get_response(request)
            if response.status_code in REFUSED_STATUSES:
                audit_refused_request(request, response.status_code)
            return response
        finally:
            current_request.reset(token)
