"""Payments, prepayments and notes, and where a statement stands (paid, partly paid, overdue).

Every function takes the session and ``now`` and validates before it writes: a bad amount, an
overpayment or an unknown statement is refused and nothing is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlmodel import Session, col, select

from core.billing import late_fees
from core.billing.money import ZERO
from core.billing.statements import arrears_from, payments_of, principal, statement_number
from core.db.tables import BillingNote, Payment, PaymentKind, Statement, StatementStatus
from core.errors import Conflict, InvalidInput
from core.ids import new_id
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date

MAX_REASON = 500


class Standing(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"  # not yet due, nothing paid
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERDUE = "overdue"  # past due with something unpaid (partly paid or not)


@dataclass(frozen=True, slots=True)
class Position:
    status: Standing
    paid: Decimal
    unpaid: Decimal
    days_overdue: int
    late_fee: Decimal  # accrued to ``today``; carried onto the next statement when issued


def paid_total(session: Session, statement_id: str) -> Decimal:
    return sum((amount for _, amount in payments_of(session, statement_id)), ZERO)


def position(session: Session, statement: Statement, today: date) -> Position:
    if statement.status != StatementStatus.ISSUED:
        return Position(Standing.DRAFT, ZERO, statement.total, 0, ZERO)
    paid = paid_total(session, statement.id)
    unpaid = max(ZERO, statement.total - paid)
    start = arrears_from(statement, get_licensee(session, statement.licensee_id).timezone)
    overdue = late_fees.days_overdue(start, today) if unpaid > 0 else 0
    if unpaid == 0:
        status = Standing.PAID
    elif overdue > 0:
        status = Standing.OVERDUE
    elif paid > 0:
        status = Standing.PARTLY_PAID
    else:
        status = Standing.ISSUED
    fee = late_fees.late_fee(principal(statement), start, payments_of(session, statement.id), today)
    return Position(status, paid, unpaid, overdue, fee)


def record_payment(
    session: Session,
    statement: Statement,
    amount: Decimal,
    paid_on: date,
    now: datetime,
    reference: str = "",
) -> Payment:
    """Money received for an issued statement on ``paid_on`` (the licensee's date).

    More than what is unpaid is refused: the rest belongs on the balance (``prepay``)."""
    if statement.status != StatementStatus.ISSUED:
        raise Conflict("a draft cannot be paid: issue it first", code="payment.draft")
    licensee = get_licensee(session, statement.licensee_id)
    if paid_on > local_date(now, licensee.timezone):
        raise InvalidInput(
            f"the payment date {paid_on} is in the future", code="payment.future", on=paid_on
        )
    if statement.issued_at is not None and paid_on < local_date(
        statement.issued_at, licensee.timezone
    ):
        raise InvalidInput(
            f"the payment date {paid_on} is before the statement was issued",
            code="payment.before_issue",
            on=paid_on,
        )
    unpaid = statement.total - paid_total(session, statement.id)
    if amount > unpaid:
        raise InvalidInput(
            f"{amount} is more than the {max(unpaid, ZERO)} unpaid on"
            f" {statement_number(statement)}; record the rest as a prepayment (--prepay)",
            code="payment.too_much",
            amount=amount,
            unpaid=max(unpaid, ZERO),
            number=statement_number(statement),
        )
    payment = Payment(
        id=new_id("pay"),
        licensee_id=statement.licensee_id,
        statement_id=statement.id,
        kind=PaymentKind.PAYMENT,
        amount=amount,
        paid_on=paid_on,
        reference=_short(reference, "reference", 200),
        created_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def prepay(
    session: Session,
    licensee_id: str,
    amount: Decimal,
    paid_on: date,
    now: datetime,
    reference: str = "",
) -> Payment:
    """Money received ahead of statements: applied to each statement as it is issued, and
    refunded when the licence ends early."""
    licensee = get_licensee(session, licensee_id)
    if paid_on > local_date(now, licensee.timezone):
        raise InvalidInput(
            f"the payment date {paid_on} is in the future", code="payment.future", on=paid_on
        )
    payment = Payment(
        id=new_id("pay"),
        licensee_id=licensee_id,
        kind=PaymentKind.PREPAYMENT,
        amount=amount,
        paid_on=paid_on,
        reference=_short(reference, "reference", 200),
        created_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def add_note(
    session: Session,
    licensee_id: str,
    amount: Decimal,
    reason: str,
    now: datetime,
    corrects: str | None = None,
) -> BillingNote:
    """A credit (amount < 0) or debit note; it lands on the next statement issued."""
    get_licensee(session, licensee_id)
    reason = _short(reason, "reason", MAX_REASON)
    if not reason:
        raise InvalidInput("a note needs a reason", code="note.reason")
    if corrects is not None:
        from core.billing.issued import get_statement

        corrects = statement_number(get_statement(session, licensee_id, corrects))
    note = BillingNote(
        id=new_id("note"),
        licensee_id=licensee_id,
        amount=amount,
        reason=reason,
        corrects=corrects,
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def pending_notes(session: Session, licensee_id: str) -> list[BillingNote]:
    return list(
        session.exec(
            select(BillingNote)
            .where(BillingNote.licensee_id == licensee_id, col(BillingNote.statement_id).is_(None))
            .order_by(col(BillingNote.created_at))
        )
    )


def _short(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(
            f"the {what} is at most {limit} characters",
            code="text.too_long",
            field=what,
            limit=limit,
        )
    return value
