"""Issuing statements: draft -> issued, numbered without gaps per year, frozen for ever.

A statement is one row per licensee, kind and period (a unique constraint), so two processes
that issue it at once make one statement: on PostgreSQL the second waits for the first's row
lock and then finds it issued; on SQLite writers take the database lock before their first read.
The number comes from a per-year counter row, incremented in the issuing transaction: a rolled
back issue gives its number back, so numbers have no gaps and are never used twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import insert, literal, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from core.billing.detail import csv_chunks, digest
from core.billing.money import ZERO
from core.billing.statements import (
    C,
    Computed,
    Line,
    _billable,
    _not_itemised,
    compute_month,
    last_day,
    ranges_of,
)
from core.db.tables import (
    BillingNote,
    Licensee,
    Payment,
    PaymentKind,
    Statement,
    StatementCounter,
    StatementItem,
    StatementKind,
    StatementStatus,
    table_of,
)
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import new_id
from core.ledger.money import LEDGER_ZONE
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date, month_bounds

_WHICH = re.compile(r"(?P<year>[0-9]{4})-(?:(?P<month>0[1-9]|1[0-2])|(?P<seq>[0-9]{6}))", re.ASCII)
_items = table_of(StatementItem)
_counters = table_of(StatementCounter)
_statements = table_of(Statement)


@dataclass(frozen=True, slots=True)
class Issued:
    statement: Statement
    created: bool  # False: it was issued already (by this call's twin, or earlier)


def find(session: Session, licensee_id: str, kind: str, period: str) -> Statement | None:
    return session.exec(
        select(Statement).where(
            Statement.licensee_id == licensee_id,
            Statement.kind == kind,
            Statement.period == period,
        )
    ).first()


def _locked_row(session: Session, computed: Computed, now: datetime) -> Statement:
    """The statement's row, created as a draft if missing, locked until the transaction ends."""
    values = {
        "id": new_id("stm"),
        "licensee_id": computed.licensee_id,
        "kind": computed.kind,
        "period": computed.period,
        "status": StatementStatus.DRAFT.value,
        "due_date": computed.due_date,
        "currency": "CNY",
        "units": 0,
        "usage_amount": ZERO,
        "total": ZERO,
        "lines": [],
        "detail_rows": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(maker(_statements).values(**values).on_conflict_do_nothing())
    row = session.exec(
        select(Statement)
        .where(
            Statement.licensee_id == computed.licensee_id,
            Statement.kind == computed.kind,
            Statement.period == computed.period,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def next_number(session: Session, year: int) -> int:
    """Take the next number of ``year`` (locks the year's counter row until commit)."""
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        maker(_counters)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": _counters.c.last + 1})
        .returning(_counters.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def save_draft(session: Session, licensee: Licensee, month: str, now: datetime) -> Statement:
    """Store (or refresh) the month's draft row; an issued statement is returned untouched."""
    computed = compute_month(session, licensee, month)
    row = _locked_row(session, computed, now)
    if row.status == StatementStatus.DRAFT:
        _fill(row, computed, now)
        session.add(row)
        session.flush()
    return row


def _fill(row: Statement, computed: Computed, now: datetime) -> None:
    row.lines = [line.as_json() for line in computed.lines]
    row.units = computed.units
    row.usage_amount = computed.usage_amount
    row.total = computed.total
    row.due_date = computed.due_date
    row.updated_at = now


def issue_month(session: Session, licensee_id: str, month: str, now: datetime) -> Issued:
    """Issue the statement of ``month``: freeze its lines, store its items and their SHA-256,
    give it the next number, attach the pending notes, apply any prepaid balance.

    Refused (Conflict) before the month is over in the licensee's zone. The caller commits."""
    licensee = get_licensee(session, licensee_id)
    _, end = month_bounds(month, licensee.timezone)
    if now < end:
        raise Conflict(
            f"{month} is not over yet in {licensee.timezone}: only a draft exists",
            code="statement.month_open",
            month=month,
            zone=licensee.timezone,
        )
    probe = Computed(licensee.id, StatementKind.USAGE, month, date.min, [])
    row = _locked_row(session, probe, now)
    if row.status == StatementStatus.ISSUED:
        return Issued(row, created=False)
    computed = compute_month(session, licensee, month, exclude=row.id)
    _insert_items(session, licensee, month, row.id)
    sha, rows = _detail_digest(session, licensee, row)
    _freeze(session, row, computed, now, sha, rows)
    return Issued(row, created=True)


def _insert_items(session: Session, licensee: Licensee, month: str, statement_id: str) -> None:
    """Copy the billed units into the statement's items, in the database (INSERT ... SELECT)."""
    from core.billing.statements import LATE_UNIT_MONTHS, _months_before, issued_statements

    start, end = month_bounds(month, licensee.timezone)
    spans = [(start, end, False)]
    earlier = {f"{m:%Y-%m}" for m in _months_before(month, LATE_UNIT_MONTHS)}
    for statement in issued_statements(session, licensee.id):
        if statement.kind == StatementKind.USAGE and statement.period in earlier:
            lo, hi = month_bounds(statement.period, licensee.timezone)
            spans.append((lo, hi, True))
    for lo, hi, late in spans:
        for price_range in ranges_of(session, licensee, lo, hi):
            condition = _billable(licensee.id, price_range.start, price_range.end)
            if late:
                condition = condition & _not_itemised()
            chosen = sa.select(
                literal(statement_id),
                C.id,
                C.started_at,
                literal(price_range.unit_price, _items.c.unit_price.type),
                C.beyond_term,
                literal(late),
            ).where(condition)
            session.execute(
                insert(_items).from_select(
                    [
                        "statement_id",
                        "conversation_id",
                        "started_at",
                        "unit_price",
                        "beyond_term",
                        "late",
                    ],
                    chosen,
                )
            )


def _detail_digest(session: Session, licensee: Licensee, row: Statement) -> tuple[str, int]:
    from core.billing.detail import issued_rows

    count = 0

    def counted() -> Iterator[tuple[str, datetime, Decimal, bool, bool]]:
        nonlocal count
        for item in issued_rows(session, row):
            count += 1
            yield item

    sha, _ = digest(csv_chunks(counted(), licensee.timezone))
    return sha, count


def _freeze(
    session: Session,
    row: Statement,
    computed: Computed,
    now: datetime,
    sha: str,
    detail_rows: int,
) -> None:
    year = local_date(now, LEDGER_ZONE).year
    row.number_year = year
    row.number_seq = next_number(session, year)
    row.status = StatementStatus.ISSUED
    row.issued_at = now
    row.detail_sha256 = sha
    row.detail_rows = detail_rows
    _fill(row, computed, now)
    session.add(row)
    if computed.note_ids:
        session.execute(
            update(table_of(BillingNote))
            .where(table_of(BillingNote).c.id.in_(computed.note_ids))
            .values(statement_id=row.id)
        )
    session.flush()
    _apply_balance(session, row, now)


def balance(session: Session, licensee_id: str) -> Decimal:
    """The prepaid balance: prepayments less refunds and what was applied to statements."""
    rows = session.exec(
        select(col(Payment.kind), col(Payment.amount)).where(Payment.licensee_id == licensee_id)
    ).all()
    total = ZERO
    for kind, amount in rows:
        if kind in (PaymentKind.PREPAYMENT, PaymentKind.REFUND):
            total += amount
        elif kind == PaymentKind.BALANCE:
            total -= amount
    return total


def _apply_balance(session: Session, row: Statement, now: datetime) -> None:
    available = balance(session, row.licensee_id)
    amount = min(available, row.total)
    if amount > 0:
        licensee = get_licensee(session, row.licensee_id)
        session.add(
            Payment(
                id=new_id("pay"),
                licensee_id=row.licensee_id,
                statement_id=row.id,
                kind=PaymentKind.BALANCE,
                amount=amount,
                paid_on=local_date(now, licensee.timezone),
                reference="prepaid balance",
                created_at=now,
            )
        )
        session.flush()


def issue_single(
    session: Session,
    licensee_id: str,
    kind: StatementKind,
    period: date,
    due: date,
    line: Line,
    now: datetime,
) -> Issued:
    """Issue a one-line bill (the base fee, an access compensation fee) at once."""
    computed = Computed(licensee_id, kind, period.isoformat(), due, [line])
    row = _locked_row(session, computed, now)
    if row.status == StatementStatus.ISSUED:
        return Issued(row, created=False)
    sha, _ = digest(csv_chunks(iter(()), get_licensee(session, licensee_id).timezone))
    _freeze(session, row, computed, now, sha, 0)
    return Issued(row, created=True)


def get_statement(session: Session, licensee_id: str, number_or_month: str) -> Statement:
    """An issued statement by number (2026-000012), or a usage statement by month (YYYY-MM)."""
    match = _WHICH.fullmatch(number_or_month)
    if match is None:
        raise InvalidInput(
            f"give a month (YYYY-MM) or a statement number (YYYY-NNNNNN), not {number_or_month!r}",
            code="statement.reference",
            value=number_or_month,
        )
    if match["seq"] is None:
        row = find(session, licensee_id, StatementKind.USAGE, number_or_month)
    else:
        row = session.exec(
            select(Statement).where(
                Statement.licensee_id == licensee_id,
                Statement.number_year == int(match["year"]),
                Statement.number_seq == int(match["seq"]),
            )
        ).first()
    if row is None:
        raise NotFound(
            f"no statement {number_or_month!r} of {licensee_id}",
            code="statement.not_found",
            value=number_or_month,
            id=licensee_id,
        )
    return row


def last_issued_month_end(session: Session, licensee_id: str) -> date | None:
    """The last day of the latest month whose usage statement is issued."""
    period = session.exec(
        select(Statement.period)
        .where(
            Statement.licensee_id == licensee_id,
            Statement.kind == StatementKind.USAGE,
            Statement.status == StatementStatus.ISSUED,
        )
        .order_by(col(Statement.period).desc())
    ).first()
    return None if period is None else last_day(period)
