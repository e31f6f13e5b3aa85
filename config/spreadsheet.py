"""CSV for spreadsheets: what every export and import shares.

Files start with a byte-order mark so that Excel in Japan opens them as UTF-8, and cells that
a spreadsheet would run as a formula get a leading apostrophe (formula injection).
"""

from __future__ import annotations

import re

BOM = "\ufeff"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Digits, spaces, hyphens, parentheses (and full-width digits) after a sign: a phone number,
# which no spreadsheet can turn into a function call.
_PLAIN_NUMBER = re.compile(r"[+\-]?[0-9０-９()\-\s]*")


def escape_cell(value: object) -> str:
    """The cell's text, guarded against formula injection."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_cell(value: str) -> str:
    """Undo `escape_cell` (for files that come back in through an import)."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value
