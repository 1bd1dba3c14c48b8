"""The statement of a month, computed from the licensee's conversation rows (a draft).

Units are counted per price range on the (licensee_id, started_at) index: the price schedule's
boundaries become UTC instants of the licensee's midnights, and each range is one COUNT, so a
month of a million units costs a handful of index scans, not a million rows in Python.
A draft is recomputed whenever it is read and is the same for the same rows; ``issued`` freezes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, exists, false, func
from sqlmodel import Session, col, select

from core.billing import late_fees
from core.billing.money import ZERO, text, to_fen
from core.billing.prices import PriceRange, price_ranges, schedules
from core.db.tables import (
    BillingNote,
    Conversation,
    Licensee,
    Payment,
    PaymentKind,
    Statement,
    StatementItem,
    StatementKind,
    StatementStatus,
    table_of,
)
from core.errors import InvalidInput
from core.licensing.service_period import add_months, local_date, month_bounds

_conversations = table_of(Conversation)
_items = table_of(StatementItem)
C, T = _conversations.c, _items.c
USAGE_DUE_DAY = 5  # PRODUCT.md: the statement of month M is due on the 5th of month M+1
# Late units are looked for in the issued months this far back: a unit is at most 24 hours
# long and is recorded when it starts, so only a unit written late by a fault can be missing
# from its month's statement, and it is found by the next one.
LATE_UNIT_MONTHS = 2


class LineKind:
    USAGE = "usage"
    LATE_UNITS = "late_units"
    NOTE = "note"
    LATE_FEE = "late_fee"
    BASE_FEE = "base_fee"
    ACCESS_FEE = "access_fee"


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    amount: Decimal
    units: int | None = None
    unit_price: Decimal | None = None
    beyond_term: bool = False
    reference: str | None = None  # the statement number (late units, late fee) or note id
    reason: str | None = None  # a note's reason

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "units": self.units,
            "unit_price": None if self.unit_price is None else format(self.unit_price, "f"),
            "amount": text(self.amount),
            "beyond_term": self.beyond_term,
            "reference": self.reference,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        price = data.get("unit_price")
        return cls(
            kind=data["kind"],
            amount=Decimal(data["amount"]),
            units=data.get("units"),
            unit_price=None if price is None else Decimal(price),
            beyond_term=bool(data.get("beyond_term")),
            reference=data.get("reference"),
            reason=data.get("reason"),
        )


@dataclass(slots=True)
class Computed:
    """What a statement says, before or after it is issued."""

    licensee_id: str
    kind: str
    period: str
    due_date: date
    lines: list[Line]
    units: int = 0
    usage_amount: Decimal = ZERO
    note_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def late_fee_amount(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == LineKind.LATE_FEE), ZERO)


def usage_due_date(month: str) -> date:
    year, mon = (int(part) for part in month.split("-"))
    return add_months(date(year, mon, 1), 1).replace(day=USAGE_DUE_DAY)


def last_day(month: str) -> date:
    year, mon = (int(part) for part in month.split("-"))
    return add_months(date(year, mon, 1), 1) - timedelta(days=1)


def _billable(licensee_id: str, lo: datetime, hi: datetime) -> Any:
    return and_(
        C.licensee_id == licensee_id, C.started_at >= lo, C.started_at < hi, C.test == false()
    )


def _not_itemised() -> Any:
    return ~exists().where(T.conversation_id == C.id)


def _count(session: Session, condition: Any) -> dict[bool, int]:
    rows = session.execute(
        sa.select(C.beyond_term, func.count()).where(condition).group_by(C.beyond_term)
    ).all()
    return {bool(beyond): int(n) for beyond, n in rows}


def ranges_of(
    session: Session, licensee: Licensee, start: datetime, end: datetime
) -> list[PriceRange]:
    """The price ranges over ``[start, end)``; InvalidInput if billable units fall before the
    first price (a bill must never price them at a guess)."""
    ranges, unpriced = price_ranges(schedules(session, licensee.id), licensee.timezone, start, end)
    if unpriced is not None and _count(session, _billable(licensee.id, start, unpriced)):
        raise InvalidInput(
            f"units of {licensee.id} started before its first unit price: set one"
            " (kefu price set) from the date of the first unit",
            code="statement.no_price",
            id=licensee.id,
        )
    return ranges


def _usage_lines(
    session: Session, licensee: Licensee, start: datetime, end: datetime, *, late: bool = False
) -> list[Line]:
    by_price: dict[tuple[Decimal, bool], int] = {}
    for price_range in ranges_of(session, licensee, start, end):
        condition = _billable(licensee.id, price_range.start, price_range.end)
        if late:
            condition = and_(condition, _not_itemised())
        for beyond, n in _count(session, condition).items():
            key = (price_range.unit_price, beyond)
            by_price[key] = by_price.get(key, 0) + n
    return [
        Line(
            kind=LineKind.LATE_UNITS if late else LineKind.USAGE,
            units=n,
            unit_price=price,
            amount=to_fen(price * n),  # rounded half-up once per line
            beyond_term=beyond,
        )
        for (price, beyond), n in sorted(by_price.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        if n
    ]


def issued_statements(session: Session, licensee_id: str) -> list[Statement]:
    return list(
        session.exec(
            select(Statement)
            .where(Statement.licensee_id == licensee_id, Statement.status == StatementStatus.ISSUED)
            .order_by(col(Statement.number_year), col(Statement.number_seq))
        )
    )


def principal(statement: Statement) -> Decimal:
    """What late fees are charged on: the total less the late fees the statement carries."""
    carried = sum(
        (Decimal(ln["amount"]) for ln in statement.lines if ln["kind"] == LineKind.LATE_FEE), ZERO
    )
    return statement.total - carried


def arrears_from(statement: Statement, tz: str) -> date:
    """The day whose end starts arrears: the due date, or the issue day for a statement issued
    after its due date (the billing job was down): nobody is late for a bill not yet sent."""
    if statement.issued_at is None:
        return statement.due_date
    return max(statement.due_date, local_date(statement.issued_at, tz))


def payments_of(session: Session, statement_id: str) -> list[tuple[date, Decimal]]:
    rows = session.exec(
        select(col(Payment.paid_on), col(Payment.amount)).where(
            Payment.statement_id == statement_id,
            col(Payment.kind).in_([PaymentKind.PAYMENT, PaymentKind.BALANCE]),
        )
    ).all()
    return [(on, amount) for on, amount in rows]


def _late_fee_lines(
    session: Session, licensee: Licensee, until: date, exclude: str | None
) -> list[Line]:
    issued = issued_statements(session, licensee.id)
    carried: dict[str, Decimal] = {}
    for statement in issued:
        if statement.id == exclude:
            continue
        for ln in statement.lines:
            if ln["kind"] == LineKind.LATE_FEE:
                ref = ln["reference"]
                carried[ref] = carried.get(ref, ZERO) + Decimal(ln["amount"])
    lines = []
    for statement in issued:
        start = arrears_from(statement, licensee.timezone)
        if statement.id == exclude or start >= until:
            continue
        number = statement_number(statement)
        fee = late_fees.late_fee(
            principal(statement), start, payments_of(session, statement.id), until
        )
        extra = fee - carried.get(number, ZERO)
        if extra > 0:
            lines.append(Line(kind=LineKind.LATE_FEE, amount=extra, reference=number))
    return lines


def statement_number(statement: Statement) -> str:
    if statement.number_year is None or statement.number_seq is None:
        raise ValueError("a draft has no number")
    return f"{statement.number_year}-{statement.number_seq:06d}"


def compute_month(
    session: Session, licensee: Licensee, month: str, *, exclude: str | None = None
) -> Computed:
    """The statement of ``month`` (YYYY-MM, licensee's zone) as the rows say now.

    ``exclude`` is the statement being issued: its own lines are not "already carried"."""
    start, end = month_bounds(month, licensee.timezone)
    lines = _usage_lines(session, licensee, start, end)
    units = sum(line.units or 0 for line in lines)
    usage_amount = sum((line.amount for line in lines), ZERO)
    lines += _late_unit_lines(session, licensee, month)
    notes = list(
        session.exec(
            select(BillingNote)
            .where(BillingNote.licensee_id == licensee.id, col(BillingNote.statement_id).is_(None))
            .order_by(col(BillingNote.created_at), col(BillingNote.id))
        )
    )
    lines += [
        Line(kind=LineKind.NOTE, amount=n.amount, reference=n.corrects, reason=n.reason)
        for n in notes
    ]
    lines += _late_fee_lines(session, licensee, last_day(month), exclude)
    return Computed(
        licensee_id=licensee.id,
        kind=StatementKind.USAGE,
        period=month,
        due_date=usage_due_date(month),
        lines=lines,
        units=units,
        usage_amount=usage_amount,
        note_ids=[n.id for n in notes],
    )


def _late_unit_lines(session: Session, licensee: Licensee, month: str) -> list[Line]:
    earlier = {f"{m:%Y-%m}" for m in _months_before(month, LATE_UNIT_MONTHS)}
    lines: list[Line] = []
    for statement in issued_statements(session, licensee.id):
        if statement.kind != StatementKind.USAGE or statement.period not in earlier:
            continue
        start, end = month_bounds(statement.period, licensee.timezone)
        for line in _usage_lines(session, licensee, start, end, late=True):
            lines.append(
                Line(
                    kind=LineKind.LATE_UNITS,
                    units=line.units,
                    unit_price=line.unit_price,
                    amount=line.amount,
                    beyond_term=line.beyond_term,
                    reference=statement_number(statement),
                )
            )
    return lines


def _months_before(month: str, count: int) -> list[date]:
    year, mon = (int(part) for part in month.split("-"))
    first = date(year, mon, 1)
    return [add_months(first, -k) for k in range(1, count + 1)]
