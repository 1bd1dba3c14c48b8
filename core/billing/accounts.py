"""A licensee's billing account: base fee and its bill, access compensation fee, suspension
exception, and early termination with 30 days' notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from core.billing.issued import Issued, balance, issue_single
from core.billing.money import ZERO
from core.billing.statements import Line, LineKind
from core.billing.workdays import BASE_FEE_WORKING_DAYS, add_working_days
from core.db.tables import BillingAccount, Payment, PaymentKind, StatementKind, table_of
from core.errors import Conflict, InvalidInput
from core.ids import new_id
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date

NOTICE_DAYS = 30


def account(session: Session, licensee_id: str, now: datetime) -> BillingAccount:
    """The licensee's account, created empty (no fees) on first use; two processes creating
    it at once make one (INSERT ... ON CONFLICT DO NOTHING)."""
    get_licensee(session, licensee_id)
    row = session.get(BillingAccount, licensee_id)
    if row is None:
        maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            maker(table_of(BillingAccount))
            .values(
                licensee_id=licensee_id,
                base_fee=ZERO,
                access_compensation_fee=ZERO,
                suspended_for_billing=False,
                invoice_title="",
                tax_id="",
                invoice_address="",
                invoice_bank="",
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        row = session.get(BillingAccount, licensee_id)
        assert row is not None
    return row


def base_fee_due(signed_on: date) -> date:
    """5 Chinese working days after signing (PRODUCT.md); InvalidInput for a year the holiday
    calendar does not cover yet (core.billing.workdays)."""
    return add_working_days(signed_on, BASE_FEE_WORKING_DAYS)


def bill_base_fee(
    session: Session,
    licensee_id: str,
    amount: Decimal,
    signed_on: date,
    now: datetime,
    due: date | None = None,
) -> Issued:
    """Record the base fee and issue its bill at once, due ``base_fee_due(signed_on)`` unless
    the operator gives ``due`` (for a year the calendar does not know)."""
    row = account(session, licensee_id, now)
    if row.signed_on is not None:
        raise Conflict(
            f"{licensee_id} has a base fee bill already (signed {row.signed_on})",
            code="billing.base_fee_exists",
            id=licensee_id,
            signed=row.signed_on,
        )
    due = due or base_fee_due(signed_on)
    if due < signed_on:
        raise InvalidInput(
            "the base fee's due date is before the signing date", code="billing.base_fee_due"
        )
    row.base_fee, row.signed_on, row.updated_at = amount, signed_on, now
    session.add(row)
    line = Line(kind=LineKind.BASE_FEE, amount=amount)
    return issue_single(session, licensee_id, StatementKind.BASE_FEE, signed_on, due, line, now)


def set_terms(
    session: Session,
    licensee_id: str,
    now: datetime,
    *,
    access_compensation_fee: Decimal | None = None,
    exception: str | None = None,
    clear_exception: bool = False,
) -> BillingAccount:
    row = account(session, licensee_id, now)
    if access_compensation_fee is not None:
        row.access_compensation_fee = access_compensation_fee
    if exception is not None:
        reason = exception.strip()
        if not reason or len(reason) > 500:
            raise InvalidInput(
                "an exception needs a reason of 1 to 500 characters",
                code="billing.exception_reason",
            )
        row.suspension_exception = reason
    if clear_exception:
        row.suspension_exception = None
    row.updated_at = now
    session.add(row)
    session.flush()
    return row


INVOICE_FIELDS = {"invoice_title": 200, "tax_id": 40, "invoice_address": 300, "invoice_bank": 300}


def set_invoice_details(
    session: Session, licensee_id: str, now: datetime, **values: str | None
) -> BillingAccount:
    """Set the invoice title, tax id, address and bank (only the values given, trimmed)."""
    row = account(session, licensee_id, now)
    for field, value in values.items():
        if field not in INVOICE_FIELDS:
            raise InvalidInput(
                f"no invoice detail {field!r}", code="billing.invoice_field", field=field
            )
        if value is None:
            continue
        if len(value.strip()) > INVOICE_FIELDS[field]:
            raise InvalidInput(
                f"{field} is at most {INVOICE_FIELDS[field]} characters",
                code="billing.invoice_too_long",
                field=field,
                limit=INVOICE_FIELDS[field],
            )
        setattr(row, field, value.strip())
    row.updated_at = now
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class Termination:
    termination_date: date
    bill: Issued | None  # the access compensation fee's bill (None when the fee is 0)
    refunded: Decimal


def terminate(
    session: Session,
    licensee_id: str,
    notice_date: date,
    now: datetime,
    fee_due: date | None = None,
) -> Termination:
    """End the licence early: the service ends ``NOTICE_DAYS`` after the notice, the access
    compensation fee is billed at once (due like a base fee: 5 working days, or ``fee_due``
    for a year the holiday calendar does not know), the prepaid
    balance is refunded (a refund entry). Usage up to the end is billed by the monthly
    statements as usual."""
    licensee = get_licensee(session, licensee_id)
    row = account(session, licensee_id, now)
    if row.notice_date is not None:
        raise Conflict(
            f"{licensee_id} gave notice already on {row.notice_date}",
            code="billing.notice_given",
            id=licensee_id,
            on=row.notice_date,
        )
    today = local_date(now, licensee.timezone)
    if notice_date > today:
        raise InvalidInput(
            f"the notice date {notice_date} is in the future",
            code="billing.notice_future",
            on=notice_date,
        )
    end = notice_date + timedelta(days=NOTICE_DAYS)
    row.notice_date, row.termination_date, row.updated_at = notice_date, end, now
    session.add(row)
    licensee.service_end = min(licensee.service_end, end)
    licensee.updated_at = now
    session.add(licensee)
    # Refunded before the fee is billed: PRODUCT.md refunds the balance, it pays no fee.
    refund = balance(session, licensee_id)
    if refund > 0:
        session.add(
            Payment(
                id=new_id("pay"),
                licensee_id=licensee_id,
                kind=PaymentKind.REFUND,
                amount=-refund,
                paid_on=today,
                reference="early termination: prepaid balance refunded",
                created_at=now,
            )
        )
    session.flush()
    bill = None
    if row.access_compensation_fee > 0:
        line = Line(kind=LineKind.ACCESS_FEE, amount=row.access_compensation_fee)
        bill = issue_single(
            session,
            licensee_id,
            StatementKind.TERMINATION,
            notice_date,
            fee_due or base_fee_due(notice_date),
            line,
            now,
        )
    session.flush()
    return Termination(end, bill, max(refund, ZERO))
