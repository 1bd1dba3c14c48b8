"""Arrears: statuses, partial payments, overpayment refused, suspension on day 16 (not 15),
an admin's exception, paying lifts it; prepayments, base fee bill and early termination."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from core.billing import accounts, issued
from core.billing.enforcement import enforce
from core.billing.payments import Standing, position, prepay, record_payment
from core.db.engine import Database
from core.db.tables import LicenceStatus, Licensee, Payment
from core.errors import Conflict, InvalidInput
from testkit.billing import add_units
from testkit.tenants import MakeTenant

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[arg-type, misc]


def shop(db: Database, make_tenant: MakeTenant) -> str:
    lid = make_tenant(
        "Shop",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=Decimal("1.00"),
    ).licensee.id
    add_units(db, lid, [at(2026, 3, 2, 10)] * 100)  # March: 100.00, due 5 April
    with db.session() as session:
        issued.issue_month(session, lid, "2026-03", at(2026, 4, 1, 9))
        session.commit()
    return lid


def status(db: Database, lid: str) -> str:
    with db.read_session() as session:
        return session.get(Licensee, lid).status  # type: ignore[union-attr]


def run_enforce(db: Database, lid: str, now: datetime) -> str | None:
    with db.session() as session:
        change = enforce(session, lid, now)
        session.commit()
    return change


def test_day_15_is_not_suspended_day_16_is_and_paying_lifts_it(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = shop(db, make_tenant)
    assert run_enforce(db, lid, at(2026, 4, 20, 23, 59)) is None  # day 15
    assert status(db, lid) == LicenceStatus.ACTIVE
    assert run_enforce(db, lid, at(2026, 4, 21, 0, 0)) == "suspended"  # day 16
    assert status(db, lid) == LicenceStatus.SUSPENDED
    assert run_enforce(db, lid, at(2026, 4, 21, 0, 5)) is None  # nothing twice
    with db.session() as session:
        stm = issued.get_statement(session, lid, "2026-03")
        record_payment(session, stm, Decimal("60.00"), date(2026, 4, 22), at(2026, 4, 22, 10))
        session.commit()
    assert run_enforce(db, lid, at(2026, 4, 22, 10)) is None  # 40.00 still overdue
    with db.session() as session:
        stm = issued.get_statement(session, lid, "2026-03")
        where = position(session, stm, date(2026, 4, 22))
        assert (where.status, where.paid, where.unpaid) == (
            Standing.OVERDUE,
            Decimal("60.00"),
            Decimal("40.00"),
        )
        # 16 days on 100.00 and 1 on 40.00: 0.80 + 0.02.
        assert where.late_fee == Decimal("0.82")
        record_payment(session, stm, Decimal("40.00"), date(2026, 4, 23), at(2026, 4, 23, 10))
        session.commit()
    assert run_enforce(db, lid, at(2026, 4, 23, 10)) == "resumed"
    assert status(db, lid) == LicenceStatus.ACTIVE
    with db.read_session() as session:
        stm = issued.get_statement(session, lid, "2026-03")
        assert position(session, stm, date(2026, 4, 23)).status == Standing.PAID


def test_an_admins_exception_keeps_the_licence_and_a_manual_suspension_stays(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = shop(db, make_tenant)
    with db.session() as session:
        accounts.set_terms(session, lid, at(2026, 4, 10), exception="付款延期已批准 agreed delay")
        session.commit()
    assert run_enforce(db, lid, at(2026, 5, 1)) is None
    assert status(db, lid) == LicenceStatus.ACTIVE
    with db.session() as session:
        with pytest.raises(InvalidInput):
            accounts.set_terms(session, lid, at(2026, 5, 1), exception="  ")
        accounts.set_terms(session, lid, at(2026, 5, 1), clear_exception=True)
        session.commit()
    assert run_enforce(db, lid, at(2026, 5, 1)) == "suspended"


def test_overpayment_bad_dates_and_drafts_record_nothing(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = shop(db, make_tenant)
    with db.session() as session:
        stm = issued.get_statement(session, lid, "2026-03")
        with pytest.raises(InvalidInput, match="more than"):
            record_payment(session, stm, Decimal("100.01"), date(2026, 4, 2), at(2026, 4, 2, 9))
        with pytest.raises(InvalidInput, match="future"):
            record_payment(session, stm, Decimal("1.00"), date(2026, 4, 3), at(2026, 4, 2, 9))
        with pytest.raises(InvalidInput, match="before"):
            record_payment(session, stm, Decimal("1.00"), date(2026, 3, 31), at(2026, 4, 2, 9))
        draft = issued.save_draft(session, session.get(Licensee, lid), "2026-04", at(2026, 5, 1))  # type: ignore[arg-type]
        with pytest.raises(Conflict):
            record_payment(session, draft, Decimal("1.00"), date(2026, 5, 1), at(2026, 5, 1, 9))
        session.rollback()
    with db.read_session() as session:
        assert session.exec(select(Payment)).all() == []


def test_prepaid_balance_is_applied_on_issue_and_refunded_on_termination(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = shop(db, make_tenant)
    with db.session() as session:
        prepay(session, lid, Decimal("150.00"), date(2026, 4, 2), at(2026, 4, 2, 9))
        accounts.set_terms(session, lid, at(2026, 4, 2), access_compensation_fee=Decimal("500.00"))
        session.commit()
    add_units(db, lid, [at(2026, 4, 3, 10)] * 30)
    with db.session() as session:
        april = issued.issue_month(session, lid, "2026-04", at(2026, 5, 1, 9)).statement
        session.commit()
        # 30.00 of units and the March late fee carried (100.00 for 25 days: 1.25), paid from
        # the 150.00 balance.
        assert april.total == Decimal("31.25")
        assert position(session, april, date(2026, 5, 1)).status == Standing.PAID
        assert issued.balance(session, lid) == Decimal("118.75")
        result = accounts.terminate(session, lid, date(2026, 5, 6), at(2026, 5, 6, 9))
        session.commit()
        assert result.termination_date == date(2026, 6, 5)
        assert result.refunded == Decimal("118.75")
        assert issued.balance(session, lid) == 0
        assert result.bill is not None and result.bill.statement.total == Decimal("500.00")
        # 5 working days after 6 May 2026 (a Wednesday): 7, 8, 9 (a make-up Saturday), 11, 12.
        assert result.bill.statement.due_date == date(2026, 5, 12)
        assert session.get(Licensee, lid).service_end == date(2026, 6, 5)  # type: ignore[union-attr]
        with pytest.raises(Conflict):
            accounts.terminate(session, lid, date(2026, 5, 7), at(2026, 5, 7, 9))


def test_base_fee_bill_is_due_five_chinese_working_days_after_signing(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = make_tenant("Base", now=datetime(2026, 9, 29, tzinfo=UTC)).licensee.id
    with db.session() as session:
        bill = accounts.bill_base_fee(
            session, lid, Decimal("20000.00"), date(2026, 9, 29), at(2026, 9, 29, 10)
        )
        session.commit()
        assert bill.created and bill.statement.due_date == date(2026, 10, 12)
        assert bill.statement.number_seq == 1 and bill.statement.total == Decimal("20000.00")
        with pytest.raises(Conflict):
            accounts.bill_base_fee(
                session, lid, Decimal("1.00"), date(2026, 9, 30), at(2026, 9, 30)
            )


def test_a_statement_issued_after_its_due_date_is_late_from_its_issue_day(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = make_tenant(
        "Late",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=Decimal("1.00"),
    ).licensee.id
    add_units(db, lid, [at(2026, 3, 2, 10)] * 100)
    with db.session() as session:  # the billing job was down until 10 April
        stm = issued.issue_month(session, lid, "2026-03", at(2026, 4, 10, 9)).statement
        session.commit()
        assert stm.due_date == date(2026, 4, 5)
        where = position(session, stm, date(2026, 4, 12))
        assert (where.days_overdue, where.late_fee) == (2, Decimal("0.10"))
    assert run_enforce(db, lid, at(2026, 4, 25, 12)) is None  # day 15 after the issue day
    assert run_enforce(db, lid, at(2026, 4, 26, 0, 1)) == "suspended"


def test_termination_in_a_year_the_calendar_does_not_know_needs_a_due_date(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = make_tenant("Next year", now=datetime(2026, 12, 1, tzinfo=UTC)).licensee.id
    now = at(2099, 1, 4, 9)
    with db.session() as session:
        accounts.set_terms(session, lid, now, access_compensation_fee=Decimal("800.00"))
        session.commit()
    with db.session() as session:
        with pytest.raises(InvalidInput, match="does not cover 2099"):
            accounts.terminate(session, lid, date(2099, 1, 4), now)
        session.rollback()
    with db.session() as session:
        ended = accounts.terminate(session, lid, date(2099, 1, 4), now, fee_due=date(2099, 1, 11))
        session.commit()
    assert ended.bill is not None and ended.bill.statement.due_date == date(2099, 1, 11)
