"""Strict input fields for API serializers: a value of the wrong JSON type is refused.

DRF's `CharField` turns the number `5` into the text "5" and its `UUIDField` turns the number
`12345` into a UUID, so `{"body": 5}` was stored as "5" and the schema (a string) was a
suggestion. Every input serializer of the API declares its text, UUID and integer fields
with these (ModelSerializers through `StrictModelSerializer`); `tests/test_hostile_input.py`
sends a number for every string of every request body in the schema and holds the rule.

Query strings and form posts carry only text, so digits in text stay valid integers there
(and in JSON: harmless, no data is changed by it); booleans and fractions are not integers,
and an integer must fit PostgreSQL's bigint, so a huge id is a 400, not a database error.
NUL characters and lone surrogates are refused by DRF's CharField already; bodies are also
checked before parsing (`config.untrusted`).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

_M = TypeVar("_M", bound=models.Model)

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


class CharField(serializers.CharField):
    default_error_messages = {"invalid": _("文字列で入力してください。")}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UUIDField(serializers.UUIDField):
    default_error_messages = {"invalid": _("UUIDを文字列で入力してください。")}

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str | uuid.UUID):
            self.fail("invalid")
        return super().to_internal_value(data)


class IntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": _("整数で入力してください。")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", BIGINT_MIN)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        # DRF's int() would also take "１２" (full-width digits): not what the schema says.
        if isinstance(data, bool | float) or (isinstance(data, str) and not data.isascii()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer[_M]):
    """A ModelSerializer whose generated fields are the strict ones above."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: CharField,
        models.TextField: CharField,
        models.SlugField: CharField,
        models.EmailField: CharField,
        models.UUIDField: UUIDField,
        models.IntegerField: IntegerField,
        models.BigIntegerField: IntegerField,
        models.SmallIntegerField: IntegerField,
        models.PositiveIntegerField: IntegerField,
        models.PositiveSmallIntegerField: IntegerField,
    }
