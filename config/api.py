"""Shared API plumbing: the one error shape and pagination.

Every error the API returns has the shape
``{"error": {"code": str, "message": str, "fields": {field: [messages]}}}``
so a tablet client needs one parser for all of them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError, Forbidden, NotFound, django_validation_fields


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def paginate(view: APIView, request: Request, rows: Any) -> tuple[Pagination, list[Any]]:
    """One page of `rows` and the paginator that renders it. `rows` is a queryset, a list or
    a selector's `audit.reads.AuditedRows` (which audits the page it gives)."""
    paginator = Pagination()
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
