"""A report over a range read from the daily figures: revenue at the price in force each day,
units before any price, cost and margin, latency percentiles, every day present."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete

from core.billing.prices import set_price
from core.db.engine import Database
from core.db.tables import PriceSchedule
from core.errors import InvalidInput
from core.reporting.daily import rebuild, refresh
from core.reporting.figures import cached_report, report
from testkit.reporting import key_of, message, model_call, start_conversation
from testkit.tenants import MakeTenant

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def at(day: int, hour: int = 4) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)  # 12:00 in Shanghai


def test_revenue_follows_the_price_in_force_and_margin_subtracts_cost(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(
        now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1), unit_price=Decimal("0.50")
    ).licensee.id
    other = make_tenant(name="Other", now=datetime(2026, 1, 1, tzinfo=UTC)).licensee.id
    with db.session() as s:
        # No price before 5 November, 0.50 from the 5th, 0.40 from the 16th.
        s.execute(delete(PriceSchedule).where(PriceSchedule.licensee_id == lic))  # type: ignore[arg-type]
        set_price(s, lic, Decimal("0.50"), date(2026, 11, 5))
        set_price(s, lic, Decimal("0.40"), date(2026, 11, 16))
        key = key_of(s, lic)
        for day, n in ((2, 1), (5, 2), (15, 3), (16, 4), (30, 5)):
            for i in range(n):
                conv = start_conversation(s, lic, key, at(day) + timedelta(minutes=i))
                message(s, conv, lic, 1, "visitor", at(day))
                message(s, conv, lic, 2, "robot", at(day) + timedelta(seconds=2), [])
        start_conversation(s, lic, key, at(20), test=True)  # shown, never billed
        start_conversation(s, other, key_of(s, other), at(20))
        model_call(s, lic, at(3), Decimal("0.0000000003"))
        model_call(s, lic, at(3), Decimal("1.25"))
        model_call(s, lic, at(4), Decimal("2"), currency="USD")
        rebuild(s, NOW)
        s.commit()
    with db.read_session() as s:
        mine = report(s, date(2026, 11, 1), date(2026, 11, 30), NOW, lic)
        everyone = report(s, date(2026, 11, 1), date(2026, 11, 30), NOW)
        first_half = report(s, date(2026, 11, 1), date(2026, 11, 15), NOW, lic)
    [line] = mine.licensees
    assert (line.units, line.unpriced_units, line.conversations) == (15, 1, 16)
    # 2 + 3 units at 0.50 and 4 + 5 at 0.40
    assert line.revenue == Decimal("6.10")
    assert line.cost == {"CNY": Decimal("1.2500000003"), "USD": Decimal("2")}
    assert line.margin is None  # costs in two currencies
    assert line.calls == 3
    assert len(mine.days) == 30 and mine.total("dont_know") == 15
    assert mine.days[2].cost == Decimal("1.2500000003")
    assert mine.p50_ms == mine.p95_ms and mine.p50_ms is not None and mine.p50_ms >= 2000
    assert first_half.licensees[0].revenue == Decimal("2.50")
    assert everyone.total("conversations") == 17
    assert {x.licensee_id for x in everyone.licensees} == {lic, other}
    with db.read_session() as s, pytest.raises(InvalidInput):
        report(s, date(2026, 11, 2), date(2026, 11, 1), NOW)


def test_a_cached_report_is_kept_only_until_the_figures_change(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1)).licensee.id
    nov = (date(2026, 11, 1), date(2026, 11, 30))
    minute = timedelta(minutes=1)
    with db.session() as s:
        start_conversation(s, lic, key_of(s, lic), at(3))
        refresh(s, at(3) + minute)
        s.commit()
        first = cached_report(s, *nov, NOW)
        assert cached_report(s, *nov, NOW) is first  # nothing changed: the same object
        assert first.total("conversations") == 1
        start_conversation(s, lic, key_of(s, lic), at(4))
        assert cached_report(s, *nov, NOW).total("conversations") == 1  # not refreshed yet
        refresh(s, at(4) + minute)
        assert cached_report(s, *nov, NOW).total("conversations") == 2
        start_conversation(s, lic, key_of(s, lic), at(5))
        rebuild(s, at(5) + minute, licensee_id=lic)
        assert cached_report(s, *nov, NOW).total("conversations") == 3
        assert cached_report(s, nov[0], nov[0], NOW, lic).total("conversations") == 0
