"""The API's body parsers: DRF's, behind the checks of `config.untrusted`.

A JSON body is at most `KIZUNA_JSON_MAX_BYTES` long (413) and `KIZUNA_JSON_MAX_DEPTH` deep,
in UTF-8, and no text in it (keys included) holds a NUL or a lone surrogate; a form body
holds no NUL. A refusal is a `RefusedInputError`, which `config.api.exception_handler` renders
in the one error shape with field errors. `REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]` names
these, and a view that names its own parsers takes them from here.

Its own module, importing none of `rest_framework.views`: DRF imports the parser classes of
its settings while `rest_framework.views` is being imported.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers, status

from config.untrusted import RefusedInput, bad_text_fields, json_max_bytes, load_json


class RefusedInputError(exceptions.ParseError):
    """A body refused by `config.untrusted` (a ParseError, so views that ask the gate before
    reporting parse errors, like patients' `_validated`, still do)."""

    def __init__(self, refused: RefusedInput) -> None:
        super().__init__(detail=str(refused.message), code=refused.code)
        self.status_code = refused.status
        self.refused = refused


def _too_many_fields() -> RefusedInputError:
    # Django's own limits (DATA_UPLOAD_MAX_NUMBER_FIELDS, ..._MEMORY_SIZE) raise
    # SuspiciousOperation, which DRF does not render: a bare HTML 400 instead of the shape.
    return RefusedInputError(RefusedInput("invalid", _("リクエストが大きすぎます。")))


def _refuse_bad_form_text(data: Any) -> None:
    fields = bad_text_fields((k, v) for k, values in data.lists() for v in values)
    if fields:
        raise RefusedInputError(RefusedInput("invalid", _("入力が不正です。"), fields=fields))


class JSONParser(parsers.JSONParser):
    """JSON bodies: size, depth and text checked (`config.untrusted.load_json`), UTF-8 only."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = json_max_bytes()
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RefusedInputError(
                RefusedInput(
                    "too_large",
                    _("本文が大きすぎます（%(max)sバイトまで）。") % {"max": limit},
                    status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                )
            )
        try:
            return load_json(body)
        except RefusedInput as refused:
            raise RefusedInputError(refused) from None


class FormParser(parsers.FormParser):
    """URL-encoded forms that reach DRF without Django's `request.POST` (PATCH, PUT)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except SuspiciousOperation:
            raise _too_many_fields() from None
        _refuse_bad_form_text(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            result = super().parse(stream, media_type, parser_context)
        except SuspiciousOperation:
            raise _too_many_fields() from None
        _refuse_bad_form_text(result.data)
        return result
