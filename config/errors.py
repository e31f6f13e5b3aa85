"""Domain errors: what a use case raises when it refuses.

A neutral module at the bottom of the layers (docs/architecture.md): services, selectors and
the access gates raise these (`DomainError` 400, `Forbidden` 403, `NotFound` 404, `Throttled`
429), and each
adapter renders them its own way (the API as one error shape in `config.api`, the pages as a
message on the form or the 403 page, the socket as an `error` frame).
It imports nothing of the project, so every app may import it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError


class DomainError(Exception):
    """A use case refused: bad input or a broken rule. Rendered as HTTP 400.

    `fields` maps field names to messages, like a serializer's errors.
    """

    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(Exception):
    """The object does not exist or the user may not see it: one answer for both."""


class Forbidden(PermissionDenied):
    """The user may see the object but may not do this with it. Rendered as HTTP 403.

    Raised only to someone who may already see the patient or thread (or may act for it),
    so it reveals nothing: anyone else gets `NotFound`. A Django `PermissionDenied`, so a
    page that lets it through gets the 403 page (`templates/403.html`) with its message.
    """

    code = "forbidden"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Throttled(Exception):
    """Too many attempts or requests: try again in `retry_after` seconds. Rendered as HTTP 429
    with `Retry-After` (the API in its error shape, the pages as the 429 page), and on the
    socket as an `error` frame carrying `retry_after`.

    Raised by `teams.throttle`: `code` is "too_many_attempts" for a sign-in that is locked
    (too many wrong passwords or codes), "rate_limited" for a person over a rate limit.
    """

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited") -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, int(retry_after))
        self.code = code


def django_validation_fields(exc: ValidationError) -> dict[str, list[str]]:
    """A Django `ValidationError` as field errors, the shape of `DomainError.fields`."""
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}
