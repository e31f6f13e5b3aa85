"""The CSV format of the directory (連携リスト): columns, reading and writing.

This module only turns bytes into rows and organizations into text; it knows nothing of
permissions or the database (that is `teams.services`). The format:

- UTF-8. Export starts with a BOM so that Excel in Japan opens it as UTF-8; import accepts a
  file with or without one. Excel's default "CSV" is Shift_JIS: such a file is refused with
  a message that says to save as "CSV UTF-8".
- The first row names the columns (`COLUMNS`); `name` and `kind` are required, the others
  may be left out (a column left out leaves that field as it is on update). Unknown or
  repeated column names are refused, so that a misspelt column is never silently ignored.
- `capabilities` holds capability codes separated by "|" or spaces.
- A cell that a spreadsheet would run as a formula (starting with = + - @ or a tab) is
  written with a leading apostrophe, and the apostrophe is removed again on import, so a
  round trip is exact. Plain phone-like numbers ("+81 3-1234-5678") are left alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from config.errors import DomainError
from config.spreadsheet import BOM, escape_cell, unescape_cell
from teams.models import Organization

COLUMNS = (
    "name",
    "name_kana",
    "kind",
    "capabilities",
    "area",
    "postal_code",
    "address",
    "phone",
    "fax",
    "notes",
)
REQUIRED_COLUMNS = ("name", "kind")
# A directory is a few thousand rows; anything far bigger is a mistake, not a directory.
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000

_CAPABILITY_SPLIT = re.compile(r"[|\s]+")


def split_capabilities(cell: str) -> list[str]:
    """Codes from a `capabilities` cell, in order, without repeats or empties."""
    return list(dict.fromkeys(c for c in _CAPABILITY_SPLIT.split(cell) if c))


def write_organizations(organizations: Iterable[Organization]) -> str:
    """The CSV text (BOM first, CRLF line ends) of the organizations, in `COLUMNS` order.

    Call with capabilities prefetched, or each organization costs a query.
    """
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for org in organizations:
        capabilities = "|".join(sorted(c.code for c in org.capabilities.all()))
        row = [
            org.name,
            org.name_kana,
            org.kind,
            capabilities,
            org.area,
            org.postal_code,
            org.address,
            org.phone,
            org.fax,
            org.notes,
        ]
        writer.writerow([escape_cell(v) for v in row])
    return out.getvalue()


@dataclass(frozen=True)
class CsvRow:
    """One data row: its number as a spreadsheet shows it (the header is row 1), its cells
    by column name (only the columns the file has), and a problem with its shape, if any."""

    number: int
    cells: dict[str, str]
    shape_error: str = ""


@dataclass(frozen=True)
class ParsedCsv:
    columns: tuple[str, ...]
    rows: list[CsvRow]


def _file_error(message: str) -> DomainError:
    return DomainError(message, fields={"file": [message]})


def read_organizations(file_bytes: bytes) -> ParsedCsv:
    """Parse the file into rows. A problem with the file as a whole (encoding, emptiness,
    header, size) raises `DomainError` with a `file` field; a row's own problems are left for
    the caller to report against that row. Blank lines are skipped."""
    if len(file_bytes) > MAX_BYTES:
        raise _file_error(_("ファイルが大きすぎます（上限 2MB）。"))
    try:
        text = file_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error(
            _(
                "文字コードが UTF-8 ではありません。Excel では「CSV UTF-8（コンマ区切り）」"
                "形式で保存してください。"
            )
        ) from None
    if "\x00" in text:
        raise _file_error(_("ファイルに NUL 文字が含まれています。CSV ファイルを選んでください。"))
    if not text.strip():
        raise _file_error(_("ファイルが空です。"))

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise _file_error(
            _("CSV として読めません（%(line)s 行目付近）。") % {"line": reader.line_num}
        ) from exc

    header_index = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if header_index is None:
        raise _file_error(_("ファイルが空です。"))
    header = [c.strip().lower() for c in records[header_index]]
    # Spreadsheets often save a few empty columns at the right of the header: ignore them.
    while header and not header[-1]:
        header.pop()
    columns = tuple(header)
    _check_header(columns)

    rows: list[CsvRow] = []
    for index, record in enumerate(records[header_index + 1 :], start=header_index + 2):
        if not any(c.strip() for c in record):
            continue
        shape_error = ""
        if len(record) > len(columns) and any(c.strip() for c in record[len(columns) :]):
            shape_error = _("見出しより多くの列があります。")
        cells = {
            col: unescape_cell(record[i].strip()) if i < len(record) else ""
            for i, col in enumerate(columns)
        }
        rows.append(CsvRow(number=index, cells=cells, shape_error=shape_error))
        if len(rows) > MAX_ROWS:
            raise _file_error(_("行が多すぎます（上限 %(max)s 行）。") % {"max": MAX_ROWS})
    if not rows:
        raise _file_error(_("データの行がありません。"))
    return ParsedCsv(columns=columns, rows=rows)


def _check_header(columns: tuple[str, ...]) -> None:
    problems: list[str] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(_("必須の列がありません: %(cols)s") % {"cols": ", ".join(missing)})
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        problems.append(
            _("不明な列があります: %(cols)s（使える列: %(known)s）")
            % {"cols": ", ".join(c or '""' for c in unknown), "known": ", ".join(COLUMNS)}
        )
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        problems.append(_("同じ列が複数あります: %(cols)s") % {"cols": ", ".join(repeated)})
    if problems:
        raise DomainError(problems[0], fields={"file": problems})
