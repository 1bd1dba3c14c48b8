"""Unit prices: the schedule in force on a day of the licensee's calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.billing.prices import in_force, unit_price_on
from core.db.engine import Database
from core.db.tables import PriceSchedule
from core.errors import NotFound

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_unit_price_is_the_one_in_force_on_the_day(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    licensee = make_tenant(
        "Shop",
        now=NOW,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=Decimal("0.50"),
    ).licensee
    with db.session() as session:
        session.add(
            PriceSchedule(
                licensee_id=licensee.id,
                effective_from=date(2026, 7, 1),
                unit_price=Decimal("0.4000"),
            )
        )
        session.add(
            PriceSchedule(
                licensee_id=licensee.id, effective_from=date(2026, 4, 1), unit_price=Decimal("0.45")
            )
        )
        session.commit()

    with db.read_session() as session:
        on = {
            day: unit_price_on(session, licensee.id, day)
            for day in (
                date(2026, 1, 1),
                date(2026, 3, 31),
                date(2026, 4, 1),
                date(2026, 6, 30),
                date(2026, 7, 1),
                date(2027, 5, 1),
            )
        }
        with pytest.raises(NotFound):
            unit_price_on(session, licensee.id, date(2025, 12, 31))
    assert {d: str(p) for d, p in on.items()} == {
        date(2026, 1, 1): "0.50",
        date(2026, 3, 31): "0.50",
        date(2026, 4, 1): "0.45",
        date(2026, 6, 30): "0.45",
        date(2026, 7, 1): "0.4000",
        date(2027, 5, 1): "0.4000",
    }
    assert all(isinstance(p, Decimal) for p in on.values())


def test_no_schedule_is_in_force_before_the_first() -> None:
    ordered = [
        PriceSchedule(licensee_id="lic", effective_from=date(2026, 1, 1), unit_price=Decimal(1)),
        PriceSchedule(licensee_id="lic", effective_from=date(2026, 2, 1), unit_price=Decimal(2)),
    ]
    assert in_force(ordered, date(2025, 12, 31)) is None
    assert in_force([], date(2026, 1, 1)) is None
    assert in_force(ordered, date(2026, 1, 31)) is ordered[0]
    assert in_force(ordered, date(2026, 2, 1)) is ordered[1]
