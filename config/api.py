"""Shared API plumbing: the one error shape, pagination and the body parsers.

Every error the API returns has the shape
``{"error": {"code": str, "message": str, "fields": {field: [messages]}}}``
so a tablet client needs one parser for all of them (`config.schema` declares it for every
operation).

Bodies are parsed by `config.parsers` (size, depth, NUL and lone surrogates checked), whose
refusals are rendered here like any other error; query strings are checked before any view
runs (`config.middleware`).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError, Forbidden, NotFound, Throttled, django_validation_fields
from config.parsers import RefusedInputError

# --- pagination --------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,18}")


class Pagination(LimitOffsetPagination):
    """`limit` and `offset`, strictly: a bad value is a 400 with field errors, never a
    silent default or clamp (a client that asks for 500 rows must learn it gets at most 200),
    and the bounds are in the schema so generated clients and schemathesis know them."""

    default_limit = 50
    max_limit = 200
    # Far past any list of the service; PostgreSQL's OFFSET is a bigint, Python's int is not.
    max_offset = 10_000_000

    def get_limit(self, request: Request) -> int:
        return self._param(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._param(request, self.offset_query_param, 0, 0, self.max_offset)

    def _param(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
            message = _("%(low)sから%(high)sまでの整数で指定してください。")
            raise exceptions.ValidationError({name: [message % {"low": low, "high": high}]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {
            self.limit_query_param: (1, self.max_limit),
            self.offset_query_param: (0, self.max_offset),
        }
        params = super().get_schema_operation_parameters(view)
        for param in params:
            low, high = bounds[param["name"]]
            param["schema"] = {**param["schema"], "minimum": low, "maximum": high}
        return params


class Paginated:
    """A view whose list answers are pages: `paginate` uses its `pagination_class`, and the
    schema (drf-spectacular reads the same attribute) shows the envelope and the parameters."""

    pagination_class: type[Pagination] | None = Pagination


def paginate(view: APIView, request: Request, rows: Any) -> tuple[Pagination, list[Any]]:
    """One page of `rows` and the paginator that renders it. `rows` is a queryset, a list or
    a selector's `audit.reads.AuditedRows` (which audits the page it gives). The view must be
    `Paginated` (or a GenericAPIView), so its schema says it answers with a page."""
    pagination_class = view.pagination_class  # type: ignore[attr-defined]
    paginator = pagination_class()
    return paginator, list(paginator.paginate_queryset(rows, request, view=view) or [])


def _flatten(detail: Any) -> Any:
    if isinstance(detail, list):
        return [_flatten(d) for d in detail]
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    return str(detail)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RefusedInputError):
        refused = exc.refused
        return Response(
            error_body(refused.code, str(refused.message), _flatten(refused.fields)),
            status=refused.status,
        )
    if isinstance(exc, Throttled):
        return Response(
            error_body(exc.code, exc.message),
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, DomainError):
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Forbidden):
        # Before Django's PermissionDenied, which it is: its message says what is refused.
        return Response(error_body(exc.code, exc.message), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, NotFound | Http404):
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoValidationError):
        fields = django_validation_fields(exc)
        return Response(
            error_body("invalid", "Invalid input.", fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail: Any = exc.detail
        field_errors = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("invalid", "Invalid input.", _flatten(field_errors))
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        response.data = error_body(code if isinstance(code, str) else "error", str(exc.detail))
    return response
