"""Unit prices: the price schedule in force on a day of the licensee's calendar."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from sqlmodel import Session, col, select

from core.db.tables import PriceSchedule
from core.errors import InvalidInput, NotFound
from core.licensing.licensees import get_licensee
from core.licensing.service_period import zone


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
        raise NotFound("no unit price in force", code="price.none_in_force")
    return schedule.unit_price


@dataclass(frozen=True, slots=True)
class PriceRange:
    """A price in force over ``[start, end)``, as UTC instants cut to one month."""

    start: datetime
    end: datetime
    unit_price: Decimal


def price_ranges(
    ordered: Sequence[PriceSchedule], tz: str, start: datetime, end: datetime
) -> tuple[list[PriceRange], datetime | None]:
    """The prices in force over ``[start, end)``, each cut to it; a schedule takes effect at
    midnight of its date in the licensee's zone. Also the end of the stretch before the first
    schedule that falls inside (None when every instant has a price): units there have none."""
    tzinfo = zone(tz)
    bounds = [datetime.combine(s.effective_from, time(0), tzinfo) for s in ordered]
    ranges: list[PriceRange] = []
    for index, schedule in enumerate(ordered):
        lo = max(bounds[index], start)
        hi = min(bounds[index + 1], end) if index + 1 < len(ordered) else end
        if lo < hi:
            ranges.append(PriceRange(lo, hi, schedule.unit_price))
    if not ordered:
        return ranges, end
    unpriced = min(bounds[0], end) if bounds[0] > start else None
    return ranges, unpriced


def set_price(
    session: Session, licensee_id: str, unit_price: Decimal, effective_from: date
) -> PriceSchedule:
    """Put ``unit_price`` in force from ``effective_from`` (the licensee's date) on.

    A price for a day already covered by an issued statement would change a frozen bill's
    basis without changing the bill: refused. The same date again replaces that schedule."""
    from core.billing.issued import last_issued_month_end  # a cycle: issued reads prices

    get_licensee(session, licensee_id)
    frozen_until = last_issued_month_end(session, licensee_id)
    if frozen_until is not None and effective_from <= frozen_until:
        raise InvalidInput(
            f"{effective_from} falls in a month whose statement is issued (up to {frozen_until});"
            " a correction goes on a credit or debit note (kefu statement note)",
            code="price.frozen",
            day=effective_from,
            until=frozen_until,
        )
    row = session.exec(
        select(PriceSchedule).where(
            PriceSchedule.licensee_id == licensee_id,
            PriceSchedule.effective_from == effective_from,
        )
    ).first()
    if row is None:
        row = PriceSchedule(
            licensee_id=licensee_id, effective_from=effective_from, unit_price=unit_price
        )
    row.unit_price = unit_price
    session.add(row)
    session.flush()
    return row
