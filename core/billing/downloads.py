"""A statement in the format asked for: JSON, CSV, the itemised detail CSV, XLSX or PDF."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from sqlmodel import Session

from core.billing.detail import Row, csv_chunks, draft_rows, issued_rows
from core.billing.issued import find
from core.billing.pdf import statement_pdf
from core.billing.sheets import statement_csv, statement_xlsx
from core.billing.views import Party, StatementView
from core.db.tables import Licensee, StatementStatus
from core.errors import InvalidInput
from core.settings import Settings


class Format(StrEnum):
    CSV = "csv"
    DETAIL_CSV = "detail.csv"
    XLSX = "xlsx"
    PDF = "pdf"


MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.DETAIL_CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.PDF: "application/pdf",
}


def parse_format(value: str) -> Format:
    try:
        return Format(value.lower())
    except ValueError:
        allowed = ", ".join(f.value for f in Format)
        raise InvalidInput(
            f"unknown format {value!r}: one of {allowed}",
            code="download.format",
            value=value,
            choices=allowed,
        ) from None


def payee(settings: Settings) -> Party:
    """The licensor as its statements name it (KEFU_BILLING_PAYEE_* settings)."""
    return Party(
        settings.billing_payee_name,
        settings.billing_payee_tax_id,
        settings.billing_payee_address,
        settings.billing_payee_bank,
        settings.billing_payee_account,
    )


def filename(view: StatementView, fmt: Format) -> str:
    name = view.number or f"{view.period}-draft"
    return f"statement-{name}.{fmt.value}"


def detail_rows(session: Session, licensee: Licensee, view: StatementView) -> Iterator[Row]:
    stored = find(session, licensee.id, view.kind, view.period)
    if stored is not None and stored.status == StatementStatus.ISSUED:
        return issued_rows(session, stored)
    if view.kind != "usage":
        return iter(())
    return draft_rows(session, licensee, view.period)


def detail_csv(session: Session, licensee: Licensee, view: StatementView) -> Iterator[bytes]:
    """The itemised detail as CSV chunks; its SHA-256 is the statement's ``detail_sha256``."""
    return csv_chunks(detail_rows(session, licensee, view), licensee.timezone)


def render(
    session: Session, licensee: Licensee, view: StatementView, fmt: Format, settings: Settings
) -> Iterator[bytes]:
    """The download as chunks (the detail CSV streams; the others are one chunk)."""
    party = payee(settings)
    if fmt == Format.DETAIL_CSV:
        return detail_csv(session, licensee, view)
    if fmt == Format.CSV:
        return iter([statement_csv(view, party)])
    if fmt == Format.XLSX:
        return iter([statement_xlsx(view, party, detail_rows(session, licensee, view))])
    return iter([statement_pdf(view, party)])
