"""Amounts in capitals (大写), typed amounts, Chinese working days, late fees on exact days."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.billing.accounts import base_fee_due
from core.billing.late_fees import days_overdue, late_fee
from core.billing.money import capital, parse_money
from core.billing.workdays import add_working_days, is_working_day
from core.errors import InvalidInput


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("1", "壹元整"),
        ("10.50", "壹拾元伍角整"),
        ("100.07", "壹佰元零柒分"),
        ("1001", "壹仟零壹元整"),
        ("10050", "壹万零伍拾元整"),
        ("205000", "贰拾万伍仟元整"),
        ("1000010", "壹佰万零壹拾元整"),
        ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
        ("100000001.01", "壹亿零壹元零壹分"),
        ("-3.05", "负叁元零伍分"),
    ],
)
def test_capital_numerals(amount: str, words: str) -> None:
    assert capital(Decimal(amount)) == words


@pytest.mark.parametrize("bad", ["", "abc", "1.005", "-1", "0", "NaN", "Infinity", "1e3x", "１０"])
def test_malformed_or_negative_amounts_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_money(bad)


def test_note_amounts_may_be_negative_but_not_zero() -> None:
    assert parse_money("-12.5", positive=False) == Decimal("-12.50")
    with pytest.raises(InvalidInput):
        parse_money("0.00", positive=False)


def test_national_day_and_the_make_up_saturday() -> None:
    assert not is_working_day(date(2026, 10, 1))  # National Day
    assert not is_working_day(date(2026, 10, 7))
    assert is_working_day(date(2026, 10, 10))  # a Saturday worked to make up for the holiday
    assert not is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    # Signed on 29 September: 30 Sep, 8, 9, 10 (Saturday, worked) and 12 October.
    assert base_fee_due(date(2026, 9, 29)) == date(2026, 10, 12)
    assert add_working_days(date(2026, 9, 30), 5) == date(2026, 10, 13)
    # An ordinary week: Friday's signing is due the next Friday.
    assert base_fee_due(date(2026, 11, 6)) == date(2026, 11, 13)


def test_a_year_the_calendar_does_not_cover_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="does not cover 2099"):
        base_fee_due(date(2099, 3, 2))


def test_late_fee_runs_from_the_day_after_the_due_date_and_follows_payments() -> None:
    due = date(2026, 12, 5)
    assert late_fee(Decimal("1000.00"), due, [], due) == 0
    assert late_fee(Decimal("1000.00"), due, [], date(2026, 12, 6)) == Decimal("0.50")
    assert late_fee(Decimal("1000.00"), due, [], date(2026, 12, 20)) == Decimal("7.50")
    # 600 paid on day 3 counts from that day: 2 days on 1000, 3 days on 400.
    paid = [(date(2026, 12, 8), Decimal("600.00"))]
    assert late_fee(Decimal("1000.00"), due, paid, date(2026, 12, 10)) == Decimal("1.60")
    # Paid before the due date: nothing.
    assert (
        late_fee(Decimal("1000.00"), due, [(date(2026, 12, 1), Decimal("1000"))], date(2027, 1, 1))
        == 0
    )
    # The exact sum is rounded half-up once: 3 days of 0.05 % on 1.00 is 0.0015 -> 0.00;
    # 10 days is 0.005 -> 0.01.
    assert late_fee(Decimal("1.00"), due, [], date(2026, 12, 8)) == Decimal("0.00")
    assert late_fee(Decimal("1.00"), due, [], date(2026, 12, 15)) == Decimal("0.01")
    assert days_overdue(due, date(2026, 12, 20)) == 15
    assert days_overdue(due, date(2026, 12, 21)) == 16
