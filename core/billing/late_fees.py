"""Late fees (pure): 0.05 % a day of the overdue principal, simple interest, whole fen.

A statement's principal is its total less the late fees it carries (a late fee is never charged
on a late fee). The fee runs from the day after the due date; a payment lowers the principal from
the day it arrived, that day included. The exact sum of all days is rounded half-up to the fen
once, per statement and cut-off date: adding up daily rounded fees would drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from core.billing.money import ZERO, to_fen

DAILY_RATE = Decimal("0.0005")  # 0.05 % = 5 per ten thousand
SUSPEND_AFTER_DAYS = 15  # more than this many days overdue: suspended (day 16)


def days_overdue(due: date, today: date) -> int:
    """Days past the due date: the due date itself is day 0, the day after it day 1."""
    return max(0, (today - due).days)


def outstanding(principal: Decimal, payments: Sequence[tuple[date, Decimal]], day: date) -> Decimal:
    """The principal still unpaid on ``day``, counting payments made on it."""
    paid = sum((amount for on, amount in payments if on <= day), ZERO)
    return max(ZERO, principal - paid)


def late_fee(
    principal: Decimal, due: date, payments: Sequence[tuple[date, Decimal]], until: date
) -> Decimal:
    """The late fee accrued from the day after ``due`` to ``until`` (inclusive), to the fen."""
    if until <= due:
        return ZERO
    # Walk the days on which the principal changes, not every day: months of arrears cost as
    # little as a week of them.
    changes = sorted({on for on, _ in payments if due < on <= until})
    exact = Decimal(0)
    day = due + timedelta(days=1)
    for boundary in [*changes, until + timedelta(days=1)]:
        if boundary <= day:
            continue
        exact += outstanding(principal, payments, day) * (boundary - day).days
        day = boundary
    return to_fen(exact * DAILY_RATE)
