"""Spreadsheet-safe cells and CSV bytes shared by every CSV/XLSX download of the product."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum

# OWASP CSV-injection guidance: a spreadsheet may evaluate a cell starting with one of these.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets trim some blanks before they look for a formula (" =1+1" is evaluated), so a
# trigger after them counts too; tab and carriage return are triggers themselves.
_BLANKS = " \n"
UTF8_BOM = "\ufeff"


def is_formula(value: str) -> bool:
    """Whether a spreadsheet may read ``value`` as a formula: a trigger first, or after blanks."""
    return value.lstrip(_BLANKS).startswith(FORMULA_TRIGGERS)


def safe_cell(value: str) -> str:
    """``value`` with a leading apostrophe when a spreadsheet would read it as a formula."""
    if is_formula(value):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo ``safe_cell``: drop one apostrophe from apostrophes that precede a formula start.

    Stripping one of several lets a writer escape text that itself starts with ``'=``.
    """
    if value.startswith("'") and is_formula(value.lstrip("'")):
        return value[1:]
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel picks the encoding) and neutralised cells.

    Cells: None is empty, booleans are ``true``/``false``, datetimes are ISO 8601 with their
    offset (a naive datetime is a bug and raises ``ValueError``), Decimals keep their digits,
    and every string goes through ``safe_cell``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_text(name) for name in header])
    for row in rows:
        writer.writerow([_csv_text(value) for value in row])
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")


def _csv_text(value: object) -> str:
    # Order matters: bool is an int, datetime is a date, a StrEnum is a str.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return _csv_text(value.value)
    if isinstance(value, str):
        return safe_cell(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} in a CSV download")
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        # Numbers, negative ones included, are values to a spreadsheet, never formulas.
        return str(value)
    return safe_cell(str(value))


def csv_cells(row: Sequence[object]) -> list[str]:
    """One row's cells as ``csv_bytes`` writes them, for writers that stream row by row."""
    return [_csv_text(value) for value in row]
