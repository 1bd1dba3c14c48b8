"""Unit prices: the price schedule in force on a day of the licensee's calendar."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlmodel import Session, col, select

from core.db.tables import PriceSchedule
from core.errors import NotFound


def schedules(session: Session, licensee_id: str) -> list[PriceSchedule]:
    """A licensee's price schedules, oldest first."""
    return list(
        session.exec(
            select(PriceSchedule)
            .where(PriceSchedule.licensee_id == licensee_id)
            .order_by(col(PriceSchedule.effective_from))
        )
    )


def in_force(ordered: Sequence[PriceSchedule], day: date) -> PriceSchedule | None:
    """The latest schedule not after ``day`` (the licensee's date); None before the first.

    ``ordered`` is oldest first, as ``schedules`` returns it."""
    index = bisect_right([s.effective_from for s in ordered], day) - 1
    return ordered[index] if index >= 0 else None


def unit_price_on(session: Session, licensee_id: str, day: date) -> Decimal:
    """The unit price in force on ``day``; NotFound before any price was in force."""
    schedule = in_force(schedules(session, licensee_id), day)
    if schedule is None:
        raise NotFound("no unit price in force")
    return schedule.unit_price
