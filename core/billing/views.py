"""What a statement shows, drafts and issued alike: the one source of the JSON, CSV, XLSX and
PDF forms, so that the same numbers appear in all of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from core.billing.issued import find
from core.billing.money import ZERO, text
from core.billing.payments import Standing, position
from core.billing.statements import Line, compute_month, statement_number
from core.db.tables import BillingAccount, Licensee, Statement, StatementKind, StatementStatus
from core.errors import NotFound
from core.licensing.service_period import local_date, month_bounds, zone


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    tax_id: str = ""
    address: str = ""
    bank: str = ""
    account: str = ""


@dataclass(frozen=True, slots=True)
class StatementView:
    licensee_id: str
    kind: str
    period: str
    number: str | None
    status: Standing
    issued_at: datetime | None
    due_date: date
    currency: str
    units: int
    usage_amount: Decimal
    total: Decimal
    lines: list[Line]
    detail_sha256: str | None
    detail_rows: int
    paid: Decimal
    unpaid: Decimal
    late_fee_accrued: Decimal
    timezone: str
    customer: Party

    @property
    def month(self) -> str:
        return self.period

    def summary(self) -> dict[str, Any]:
        return {
            "month": self.period,
            "kind": self.kind,
            "number": self.number,
            "status": self.status.value,
            "total": text(self.total),
            "due_date": self.due_date.isoformat(),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "units": self.units,
            "usage_amount": text(self.usage_amount),
            "currency": self.currency,
            "issued_at": (
                self.issued_at.astimezone(zone(self.timezone)).isoformat()
                if self.issued_at
                else None
            ),
            "paid": text(self.paid),
            "unpaid": text(self.unpaid),
            "late_fee_accrued": text(self.late_fee_accrued),
            "detail_rows": self.detail_rows,
            "detail_sha256": self.detail_sha256,
            "lines": [line.as_json() for line in self.lines],
        }


def customer_of(session: Session, licensee: Licensee) -> Party:
    account = session.get(BillingAccount, licensee.id)
    if account is None:
        return Party(licensee.name)
    return Party(
        account.invoice_title or licensee.name,
        account.tax_id,
        account.invoice_address,
        account.invoice_bank,
    )


def view_of(
    session: Session, licensee: Licensee, statement: Statement, today: date
) -> StatementView:
    """The view of a stored statement; a stored draft is recomputed, never shown stale."""
    if statement.status != StatementStatus.ISSUED and statement.kind == StatementKind.USAGE:
        return draft_view(session, licensee, statement.period)
    where = position(session, statement, today)
    return StatementView(
        licensee_id=licensee.id,
        kind=statement.kind,
        period=statement.period,
        number=statement_number(statement) if statement.number_seq is not None else None,
        status=where.status,
        issued_at=statement.issued_at,
        due_date=statement.due_date,
        currency=statement.currency,
        units=statement.units,
        usage_amount=statement.usage_amount,
        total=statement.total,
        lines=[Line.from_json(ln) for ln in statement.lines],
        detail_sha256=statement.detail_sha256,
        detail_rows=statement.detail_rows,
        paid=where.paid,
        unpaid=where.unpaid,
        late_fee_accrued=where.late_fee,
        timezone=licensee.timezone,
        customer=customer_of(session, licensee),
    )


def draft_view(session: Session, licensee: Licensee, month: str) -> StatementView:
    computed = compute_month(session, licensee, month)
    return StatementView(
        licensee_id=licensee.id,
        kind=StatementKind.USAGE,
        period=month,
        number=None,
        status=Standing.DRAFT,
        issued_at=None,
        due_date=computed.due_date,
        currency="CNY",
        units=computed.units,
        usage_amount=computed.usage_amount,
        total=computed.total,
        lines=computed.lines,
        detail_sha256=None,
        detail_rows=sum(ln.units or 0 for ln in computed.lines),
        paid=ZERO,
        unpaid=computed.total,
        late_fee_accrued=ZERO,
        timezone=licensee.timezone,
        customer=customer_of(session, licensee),
    )


def check_month(licensee: Licensee, month: str, now: datetime) -> None:
    """InvalidInput for a malformed month; NotFound for one that has not begun, or that ended
    before the licence began: no statement can exist for it."""
    start, end = month_bounds(month, licensee.timezone)
    first = month_bounds(f"{licensee.service_start:%Y-%m}", licensee.timezone)[0]
    if start > now or end <= first:
        raise NotFound(
            f"no statement for {month}: outside the licence's months so far",
            code="statement.outside_term",
            month=month,
        )


def month_view(session: Session, licensee: Licensee, month: str, now: datetime) -> StatementView:
    """The month's statement: issued if it is, else a draft computed now."""
    check_month(licensee, month, now)
    stored = find(session, licensee.id, StatementKind.USAGE, month)
    today = local_date(now, licensee.timezone)
    if stored is not None and stored.status == StatementStatus.ISSUED:
        return view_of(session, licensee, stored, today)
    return draft_view(session, licensee, month)


def list_views(session: Session, licensee: Licensee, now: datetime) -> list[StatementView]:
    """Every stored statement of the licensee (issued ones and saved drafts), newest first."""
    today = local_date(now, licensee.timezone)
    rows = session.exec(
        select(Statement)
        .where(Statement.licensee_id == licensee.id)
        .order_by(col(Statement.period).desc(), col(Statement.kind))
    ).all()
    return [view_of(session, licensee, row, today) for row in rows]
