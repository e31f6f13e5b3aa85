"""What a client sends, checked before anything reads it: JSON depth and size, and text.

Plumbing that imports nothing of the project, for every adapter: the API's parsers
(`config.api`), the HTTP middleware (`config.middleware`: URLs, query strings, form posts and
cookies) and the socket's frame decoding (`messaging.consumers`). Each adapter renders a
refusal its own way (the one JSON error shape, a 400 page, an `error` frame).

Two kinds of text never reach the database or a template: the NUL character (PostgreSQL
refuses it in text, so it surfaced as a 500) and lone surrogates (half of a UTF-16 pair, which
`"\\ud800"` in JSON decodes to and which cannot be encoded as UTF-8). Deep JSON is refused
before Python's parser recurses into it: `json.loads` raises `RecursionError` around a depth
of 1,000, which nothing caught (a 500 over HTTP, code 1011 on the socket), and a value a few
hundred levels deep would still break whatever walked it next (serializers, the renderer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

# Deep enough for any body or frame of the API (the deepest, a sync request, has 2 levels).
DEFAULT_JSON_MAX_DEPTH = 32
# A message body is at most a few thousand characters; a sync request names ≤2,000 threads.
DEFAULT_JSON_MAX_BYTES = 1024 * 1024

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")

BAD_TEXT_MESSAGE = _("使用できない文字（NUL文字など）が含まれています。")


class RefusedInput(ValueError):
    """Input refused before it was parsed into anything: `code`, a message, field errors.

    `status` is the HTTP status the API answers with (400, or 413 for a body too large).
    """

    def __init__(
        self,
        code: str,
        message: Any,
        *,
        fields: dict[str, list[Any]] | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.status = status


def json_max_depth() -> int:
    return int(getattr(settings, "KIZUNA_JSON_MAX_DEPTH", DEFAULT_JSON_MAX_DEPTH))


def json_max_bytes() -> int:
    return int(getattr(settings, "KIZUNA_JSON_MAX_BYTES", DEFAULT_JSON_MAX_BYTES))


def has_bad_text(text: str) -> bool:
    """True if `text` holds a NUL character or a lone surrogate."""
    return _BAD_TEXT.search(text) is not None


def bad_text_fields(items: Iterable[tuple[str, str]]) -> dict[str, list[Any]]:
    """Field errors for the (name, value) pairs whose name or value holds bad text."""
    fields: dict[str, list[Any]] = {}
    for name, value in items:
        if has_bad_text(name) or has_bad_text(value):
            key = "non_field_errors" if has_bad_text(name) else name
            fields.setdefault(key, [BAD_TEXT_MESSAGE])
    return fields


def _too_deep(max_depth: int) -> RefusedInput:
    return RefusedInput(
        "too_deep",
        _("JSONの入れ子が深すぎます（%(max)s段まで）。") % {"max": max_depth},
    )


def check_value(value: Any, *, max_depth: int | None = None) -> None:
    """Refuse a decoded JSON value nested deeper than `max_depth`, or holding bad text
    (in any string, keys included). Iterative, so a deep value cannot exhaust the stack.

    A bad string is reported under the top-level key that holds it, the field a client sent.
    """
    limit = json_max_depth() if max_depth is None else max_depth
    stack: list[tuple[Any, int, str]] = [(value, 0, "non_field_errors")]
    while stack:
        item, depth, field = stack.pop()
        if isinstance(item, str):
            if has_bad_text(item):
                raise RefusedInput(
                    "invalid", _("入力が不正です。"), fields={field: [BAD_TEXT_MESSAGE]}
                )
            continue
        if not isinstance(item, Mapping | list):
            continue
        if depth >= limit:
            raise _too_deep(limit)
        if isinstance(item, Mapping):
            for key, child in item.items():
                name = key if depth == 0 and isinstance(key, str) else field
                if has_bad_text(key):
                    raise RefusedInput(
                        "invalid", _("入力が不正です。"), fields={field: [BAD_TEXT_MESSAGE]}
                    )
                stack.append((child, depth + 1, name))
        else:
            stack.extend((child, depth + 1, field) for child in item)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(data: str | bytes, *, max_depth: int | None = None) -> Any:
    """Decode JSON from a client: strict UTF-8, no NaN or Infinity, at most `max_depth` levels,
    no NUL or lone surrogate in any string. Raises `RefusedInput`.

    The size is the caller's to bound (it reads the body or gets the frame). Most input has
    fewer brackets than the limit, which `str.count` sees at C speed; otherwise Python's
    parser is given the text (its `RecursionError` on a few hundred levels is caught, the
    C scanner unwinds cleanly), and the decoded value is walked without recursion.
    """
    limit = json_max_depth() if max_depth is None else max_depth
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RefusedInput("invalid_json", _("UTF-8で送ってください。")) from None
    else:
        text = data
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise _too_deep(limit) from None
    except ValueError as exc:
        raise RefusedInput(
            "invalid_json", _("JSONとして読めません: %(error)s") % {"error": exc}
        ) from None
    if text.count("[") + text.count("{") > limit or has_bad_text(text) or "\\u" in text:
        check_value(value, max_depth=limit)
    return value
