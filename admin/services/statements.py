"""What the statements pages and API do, on the billing services of ``core.billing``: find a
statement the principal may see, list a month, and the changes (issue, payment, prepayment,
note), each audited in its own transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fastapi import HTTPException
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from admin.deps import scoped_licensee
from core import audit
from core.accounts import Principal, Role
from core.billing import issued as issuing
from core.billing.enforcement import enforce
from core.billing.issued import get_statement
from core.billing.money import parse_money, text
from core.billing.payments import add_note, prepay, record_payment
from core.billing.statements import statement_number
from core.billing.views import StatementView, list_views, month_view, view_of
from core.db.engine import Database
from core.db.tables import Licensee, Statement, StatementKind, StatementStatus
from core.errors import Conflict, InvalidInput
from core.licensing.service_period import local_date

MONTH = re.compile(r"\d{4}-\d{2}")
PAGE_SIZE = 100
BILLING_WRITERS = frozenset({Role.OWNER, Role.BILLING})


def may_change_billing(principal: Principal) -> bool:
    return principal.role in BILLING_WRITERS


def licensee_for(session: Session, principal: Principal, licensee_id: str) -> Licensee:
    """The licensee, if the principal may see it; 404 (the same as a missing one) otherwise."""
    scoped_licensee(principal, licensee_id)
    licensee = session.get(Licensee, licensee_id)
    if licensee is None:
        raise HTTPException(404, f"no licensee {licensee_id}")
    return licensee


def statement_view(
    session: Session, principal: Principal, licensee_id: str, which: str, now: datetime
) -> tuple[Licensee, StatementView]:
    """A month's statement (issued, or the draft computed now) or one found by its number."""
    licensee = licensee_for(session, principal, licensee_id)
    if MONTH.fullmatch(which):
        return licensee, month_view(session, licensee, which, now)
    stored = get_statement(session, licensee_id, which)
    return licensee, view_of(session, licensee, stored, local_date(now, licensee.timezone))


def statements_of(
    session: Session, principal: Principal, licensee_id: str, now: datetime
) -> tuple[Licensee, list[StatementView]]:
    licensee = licensee_for(session, principal, licensee_id)
    return licensee, list_views(session, licensee, now)


@dataclass(frozen=True, slots=True)
class MonthRow:
    licensee_id: str
    name: str
    statement: Statement | None  # the stored draft or issued statement; None: none saved yet

    @property
    def number(self) -> str | None:
        s = self.statement
        return statement_number(s) if s is not None and s.number_seq is not None else None


@dataclass(frozen=True, slots=True)
class MonthPage:
    month: str
    rows: list[MonthRow]
    total: int  # licensees matching
    page: int
    pages: int
    issued: int
    issued_total: Decimal


def month_list(
    session: Session, principal: Principal, month: str, query: str, page: int
) -> MonthPage:
    """Every licensee the principal may see (matching ``query``) with its statement of
    ``month`` as stored: the billing job saves drafts from the 1st; opening one recomputes it."""
    if not MONTH.fullmatch(month):
        raise InvalidInput(
            f"month must be YYYY-MM, got {month!r}", code="month.malformed", month=month
        )
    lic = select(Licensee)
    if principal.licensee_id is not None:
        lic = lic.where(Licensee.id == principal.licensee_id)
    if query:
        like = f"%{query.lower()}%"
        lic = lic.where(
            or_(func.lower(Licensee.name).like(like), func.lower(Licensee.id).like(like))
        )
    total = session.exec(select(func.count()).select_from(lic.subquery())).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    licensees = session.exec(
        lic.order_by(col(Licensee.name), col(Licensee.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ids = [x.id for x in licensees]
    stored = {
        s.licensee_id: s
        for s in session.exec(
            select(Statement).where(
                col(Statement.licensee_id).in_(ids),
                Statement.kind == StatementKind.USAGE,
                Statement.period == month,
            )
        )
    }
    mine = [] if principal.licensee_id is None else [Statement.licensee_id == principal.licensee_id]
    issued_totals: Sequence[Decimal] = session.exec(
        select(col(Statement.total)).where(
            *mine,
            Statement.kind == StatementKind.USAGE,
            Statement.period == month,
            Statement.status == StatementStatus.ISSUED,
        )
    ).all()
    rows = [MonthRow(x.id, x.name, stored.get(x.id)) for x in licensees]
    return MonthPage(
        month, rows, total, page, pages, len(issued_totals), sum(issued_totals, Decimal(0))
    )


# ------------------------------------------------------------------------------ changes


def _target(licensee_id: str, which: str) -> str:
    return f"statement:{licensee_id}/{which}"


def issue(db: Database, principal: Principal, licensee_id: str, month: str, now: datetime) -> str:
    """Issue the month's statement; its number. Conflict if it was issued already."""
    with db.session() as session:
        licensee_for(session, principal, licensee_id)
        if not MONTH.fullmatch(month):
            raise InvalidInput(
                f"month must be YYYY-MM, got {month!r}", code="month.malformed", month=month
            )
        result = issuing.issue_month(session, licensee_id, month, now)
        number = statement_number(result.statement)
        if not result.created:
            raise Conflict(
                f"{month} is issued already, as {number}",
                code="statement.issued_already",
                month=month,
                number=number,
            )
        audit.record(
            session,
            actor=principal,
            action="statement.issue",
            target=_target(licensee_id, month),
            before={"status": "draft"},
            after={
                "status": "issued",
                "number": number,
                "total": text(result.statement.total),
                "due_date": result.statement.due_date,
            },
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
    return number


def _paid_on(value: str | None, licensee: Licensee, now: datetime) -> date:
    if not value:
        return local_date(now, licensee.timezone)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"the payment date must be YYYY-MM-DD, got {value!r}",
            code="form.date",
            field="payment date",
            value=value,
        ) from None


def pay(
    db: Database,
    principal: Principal,
    licensee_id: str,
    which: str,
    amount: str,
    paid_on: str | None,
    reference: str,
    now: datetime,
) -> str:
    """Record money received for an issued statement; the payment's id."""
    with db.session() as session:
        licensee = licensee_for(session, principal, licensee_id)
        stored = get_statement(session, licensee_id, which)
        money = parse_money(amount)
        payment = record_payment(
            session, stored, money, _paid_on(paid_on, licensee, now), now, reference
        )
        lifted = enforce(session, licensee_id, now)
        audit.record(
            session,
            actor=principal,
            action="statement.payment",
            target=_target(licensee_id, statement_number(stored)),
            before=None,
            after={
                "payment": payment.id,
                "amount": text(payment.amount),
                "paid_on": payment.paid_on,
                "reference": payment.reference,
                "licence": lifted,
            },
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
        return payment.id


def prepayment(
    db: Database,
    principal: Principal,
    licensee_id: str,
    amount: str,
    paid_on: str | None,
    reference: str,
    now: datetime,
) -> str:
    with db.session() as session:
        licensee = licensee_for(session, principal, licensee_id)
        payment = prepay(
            session,
            licensee_id,
            parse_money(amount),
            _paid_on(paid_on, licensee, now),
            now,
            reference,
        )
        audit.record(
            session,
            actor=principal,
            action="statement.prepayment",
            target=f"licensee:{licensee_id}",
            before=None,
            after={
                "payment": payment.id,
                "amount": text(payment.amount),
                "paid_on": payment.paid_on,
            },
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
        return payment.id


def note(
    db: Database,
    principal: Principal,
    licensee_id: str,
    amount: str,
    reason: str,
    corrects: str | None,
    now: datetime,
) -> str:
    """A credit (negative) or debit note, landing on the next statement issued; its id."""
    with db.session() as session:
        licensee_for(session, principal, licensee_id)
        made = add_note(
            session,
            licensee_id,
            parse_money(amount, positive=False),
            reason,
            now,
            corrects or None,
        )
        audit.record(
            session,
            actor=principal,
            action="statement.note",
            target=f"licensee:{licensee_id}",
            before=None,
            after={
                "note": made.id,
                "amount": text(made.amount),
                "reason": made.reason,
                "corrects": made.corrects,
            },
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
        return made.id
