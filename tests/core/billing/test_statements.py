"""Statements of a month: units by price in the licensee's zone, test units out, late units,
notes and late fees; issuing freezes them, numbers them without gaps, once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.billing import issued as issuing
from core.billing.detail import csv_chunks, digest, issued_rows
from core.billing.payments import add_note, record_payment
from core.billing.prices import set_price
from core.billing.statements import compute_month
from core.db.engine import Database
from core.errors import Conflict, InvalidInput
from core.licensing.licensees import get_licensee
from testkit.billing import add_units
from testkit.tenants import MakeTenant

SH = ZoneInfo("Asia/Shanghai")
SIGNED = datetime(2026, 1, 1, 1, tzinfo=UTC)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[arg-type, misc]


def lic(make_tenant: MakeTenant, **kw: object) -> str:
    kw.setdefault("unit_price", Decimal("0.50"))
    return make_tenant(
        "Shop", now=SIGNED, start=date(2026, 1, 1), end=date(2026, 12, 31), **kw
    ).licensee.id


def compute(db: Database, licensee_id: str, month: str):  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        return compute_month(session, get_licensee(session, licensee_id), month)


def issue(db: Database, licensee_id: str, month: str, now: datetime) -> issuing.Issued:
    with db.session() as session:
        result = issuing.issue_month(session, licensee_id, month, now)
        session.commit()
    return result


def test_month_is_the_licensees_zone_and_test_units_are_not_billed(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = lic(make_tenant)
    # 00:00 on 1 March in Shanghai is 16:00 UTC on 28 February: it is March's.
    add_units(db, lid, [at(2026, 3, 1, 0, 0), at(2026, 3, 31, 23, 59, 59), at(2026, 2, 28, 23, 59)])
    add_units(db, lid, [at(2026, 3, 5, 12)], test=True)
    march = compute(db, lid, "2026-03")
    assert march.units == 2
    assert march.usage_amount == Decimal("1.00")
    assert compute(db, lid, "2026-02").units == 1


def test_a_price_change_at_midnight_prices_each_unit_by_its_start(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = lic(make_tenant)
    with db.session() as session:
        set_price(session, lid, Decimal("0.3333"), date(2026, 3, 15))
        session.commit()
    add_units(db, lid, [at(2026, 3, 14, 23, 59, 59)] * 2 + [at(2026, 3, 15, 0, 0, 0)] * 3)
    add_units(db, lid, [at(2026, 3, 20)], beyond_term=True)
    march = compute(db, lid, "2026-03")
    lines = [(ln.unit_price, ln.units, ln.amount, ln.beyond_term) for ln in march.lines]
    # 3 x 0.3333 = 0.9999 rounds half-up to 1.00 once for the line, not per unit.
    assert lines == [
        (Decimal("0.3333"), 3, Decimal("1.00"), False),
        (Decimal("0.50"), 2, Decimal("1.00"), False),
        (Decimal("0.3333"), 1, Decimal("0.33"), True),
    ]
    assert march.total == Decimal("2.33")


def test_leap_day_belongs_to_february(db: Database, make_tenant: MakeTenant) -> None:
    lid = make_tenant(
        "Leap", now=datetime(2028, 1, 1, tzinfo=UTC), start=date(2028, 1, 1), end=date(2028, 12, 31)
    ).licensee.id
    add_units(db, lid, [at(2028, 2, 29, 23, 59), at(2028, 3, 1, 0, 0)])
    assert compute(db, lid, "2028-02").units == 1
    assert compute(db, lid, "2028-03").units == 1


def test_issue_freezes_numbers_once_and_the_detail_hash_matches_the_download(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = lic(make_tenant)
    add_units(db, lid, [at(2026, 3, d, 10) for d in range(1, 11)])
    with pytest.raises(Conflict):
        issue(db, lid, "2026-03", at(2026, 3, 31, 23, 59))
    first = issue(db, lid, "2026-03", at(2026, 4, 2, 9))
    assert first.created and first.statement.number_seq == 1
    assert first.statement.total == Decimal("5.00")
    # A unit of March that shows up after March was issued: the next statement carries it.
    add_units(db, lid, [at(2026, 3, 31, 23, 50)])
    again = issue(db, lid, "2026-03", at(2026, 4, 3, 9))
    assert not again.created and again.statement.total == Decimal("5.00")
    with db.read_session() as session:
        stored = issuing.get_statement(session, lid, "2026-03")
        sha, _ = digest(csv_chunks(issued_rows(session, stored), "Asia/Shanghai"))
    assert sha == stored.detail_sha256 and stored.detail_rows == 10
    april = compute(db, lid, "2026-04")
    late = [ln for ln in april.lines if ln.kind == "late_units"]
    assert [(ln.units, ln.amount, ln.reference) for ln in late] == [
        (1, Decimal("0.50"), "2026-000001")
    ]
    second = issue(db, lid, "2026-04", at(2026, 5, 1, 9))
    # 0.50 of late units, and 25 days (6 to 30 April) of 0.05 % on the unpaid 5.00: 0.0625.
    assert second.statement.number_seq == 2 and second.statement.total == Decimal("0.56")
    may = compute(db, lid, "2026-05")
    assert not [ln for ln in may.lines if ln.kind == "late_units"]  # carried once, not again
    # Late fees carry what accrued since: 56 days on 5.00 is 0.14, less 0.06 carried; the
    # April statement's principal (0.50, its late fee excluded) for 26 days is 0.0065.
    assert [(ln.reference, ln.amount) for ln in may.lines] == [
        ("2026-000001", Decimal("0.08")),
        ("2026-000002", Decimal("0.01")),
    ]


def test_notes_land_on_the_next_statement_and_bad_amounts_record_nothing(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = lic(make_tenant)
    add_units(db, lid, [at(2026, 3, 2, 10)] * 4)
    march = issue(db, lid, "2026-03", at(2026, 4, 1, 9)).statement
    with db.session() as session:
        add_note(
            session, lid, Decimal("-1.50"), "two units counted twice", at(2026, 4, 2), "2026-03"
        )
        session.commit()
    april = compute(db, lid, "2026-04")
    assert [(ln.kind, ln.amount, ln.reference) for ln in april.lines if ln.kind == "note"] == [
        ("note", Decimal("-1.50"), "2026-000001")
    ]
    with db.session() as session:
        stm = issuing.get_statement(session, lid, "2026-03")
        with pytest.raises(InvalidInput, match="more than"):
            record_payment(session, stm, Decimal("2.01"), date(2026, 4, 3), at(2026, 4, 3, 9))
        record_payment(session, stm, Decimal("2.00"), date(2026, 4, 3), at(2026, 4, 3, 9))
        session.commit()
    assert march.total == Decimal("2.00")


def test_an_issued_statement_cannot_change(db: Database, make_tenant: MakeTenant) -> None:
    lid = lic(make_tenant)
    add_units(db, lid, [at(2026, 3, 2, 10)] * 3)
    before = issue(db, lid, "2026-03", at(2026, 4, 1, 9)).statement
    frozen = (before.total, before.lines, before.detail_sha256, before.number_seq, before.units)
    with db.session() as session:
        # A price for a day of an issued month would change its basis: refused.
        with pytest.raises(InvalidInput, match="issued"):
            set_price(session, lid, Decimal("9.99"), date(2026, 3, 31))
        set_price(session, lid, Decimal("9.99"), date(2026, 4, 1))  # the next month is open
        add_note(session, lid, Decimal("5.00"), "debit", at(2026, 4, 2))
        session.commit()
    add_units(db, lid, [at(2026, 3, 3, 10)])  # a late unit: goes to the next statement
    again = issue(db, lid, "2026-03", at(2026, 5, 1, 9))
    assert not again.created
    with db.read_session() as session:
        after = issuing.get_statement(session, lid, "2026-000001")
        assert (
            after.total,
            after.lines,
            after.detail_sha256,
            after.number_seq,
            after.units,
        ) == frozen
        assert sum(1 for _ in issued_rows(session, after)) == 3
