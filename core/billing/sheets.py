"""A statement as CSV (UTF-8 with BOM, formula-safe) and as an XLSX workbook (openpyxl)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from core.billing.detail import DETAIL_COLUMNS, Row
from core.billing.labels import HEADINGS, line_label, status_label
from core.billing.money import capital
from core.billing.views import Party, StatementView
from core.licensing.service_period import zone
from core.spreadsheet import csv_bytes, safe_cell

LINE_COLUMNS = ("item_zh", "item_en", "units", "unit_price", "amount")


def _bi(key: str) -> str:
    return f"{HEADINGS['zh'][key]} {HEADINGS['en'][key]}"


def facts(view: StatementView, payee: Party) -> list[tuple[str, object]]:
    """The statement's head, field by field, as every download shows it."""
    tz = zone(view.timezone)
    return [
        (_bi("number"), view.number or HEADINGS["zh"]["draft"]),
        (_bi("period"), view.period),
        (_bi("status"), f"{status_label(view.status, 'zh')} {status_label(view.status, 'en')}"),
        (_bi("issued"), view.issued_at.astimezone(tz).date() if view.issued_at else None),
        (_bi("due"), view.due_date),
        (_bi("currency"), view.currency),
        (_bi("payer"), view.customer.name),
        (f"{_bi('payer')} {_bi('tax_id')}", view.customer.tax_id),
        (_bi("payee"), payee.name),
        (f"{_bi('payee')} {_bi('bank')}", payee.bank),
        (f"{_bi('payee')} {_bi('account')}", payee.account),
        (_bi("units"), view.units),
        (_bi("total"), view.total),
        (_bi("total_capital"), capital(view.total)),
        (_bi("paid"), view.paid),
        (_bi("unpaid"), view.unpaid),
        (_bi("detail_rows"), view.detail_rows),
        (_bi("detail_sha256"), view.detail_sha256),
        (_bi("timezone"), view.timezone),
    ]


def line_rows(view: StatementView) -> list[tuple[object, ...]]:
    return [
        (line_label(ln, "zh"), line_label(ln, "en"), ln.units, ln.unit_price, ln.amount)
        for ln in view.lines
    ]


def statement_csv(view: StatementView, payee: Party) -> bytes:
    """The head as ``field,value`` rows, a blank row, then the lines and the total."""
    head = csv_bytes(("field", "value"), facts(view, payee))
    total = (_bi("total"), "", None, None, view.total)
    lines = csv_bytes(LINE_COLUMNS, [*line_rows(view), total])
    return head + b"\r\n" + lines.removeprefix(b"\xef\xbb\xbf")


def statement_xlsx(view: StatementView, payee: Party, detail: Iterator[Row] | None) -> bytes:
    """A workbook: the statement on its first sheet, the itemised detail on the second.

    Written in write-only mode, so a detail of a million rows streams through memory."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("结算单 Statement")
    sheet.column_dimensions["A"].width = 36
    sheet.column_dimensions["B"].width = 40
    bold = Font(bold=True)
    title = WriteOnlyCell(sheet, value=f"{HEADINGS['zh']['title']} {HEADINGS['en']['title']}")
    title.font = bold
    sheet.append([title])
    for key, value in facts(view, payee):
        sheet.append([key, _cell(sheet, value)])
    sheet.append([])
    sheet.append(list(LINE_COLUMNS))
    for row in line_rows(view):
        sheet.append([_cell(sheet, v) for v in row])
    sheet.append([_bi("total"), "", None, None, _cell(sheet, view.total)])
    if detail is not None:
        rows = book.create_sheet("明细 Detail")
        rows.append(list(DETAIL_COLUMNS))
        tz = zone(view.timezone)
        for conversation, started, price, beyond, late in detail:
            # Excel has no time zones: the local time as text keeps its offset visible.
            rows.append([conversation, started.astimezone(tz).isoformat(), price, beyond, late])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(sheet: object, value: object) -> object:
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.00##"
        return cell
    if isinstance(value, str):
        return safe_cell(value)
    if value is None or isinstance(value, int):
        return value
    return str(value)
