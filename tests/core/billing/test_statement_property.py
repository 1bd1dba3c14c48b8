"""Property: a statement's total is an independent count of its rows times the right prices,
for random conversations, price changes and time zones (hypothesis), on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.billing.prices import set_price
from core.billing.statements import compute_month
from core.db.engine import Database
from core.licensing.licensees import get_licensee
from testkit.billing import add_units
from testkit.tenants import MakeTenant

ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Pacific/Kiritimati", "Asia/Kathmandu"]
MONTH = "2026-03"  # New York changes to summer time inside it
START = datetime(2026, 2, 27, tzinfo=UTC)
SPAN_SECONDS = 36 * 24 * 3600

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9.9999"), places=4)
changes = st.lists(st.tuples(st.integers(1, 31), prices), max_size=4, unique_by=lambda c: c[0])
units = st.lists(st.tuples(st.integers(0, SPAN_SECONDS), st.booleans(), st.booleans()), max_size=60)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tz=st.sampled_from(ZONES),
    first_price=prices,
    price_changes=changes,
    conversations=units,
)
def test_total_is_rows_times_the_price_in_force(
    db: Database,
    make_tenant: MakeTenant,
    tz: str,
    first_price: Decimal,
    price_changes: list[tuple[int, Decimal]],
    conversations: list[tuple[int, bool, bool]],
) -> None:
    lid = make_tenant(
        "P",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=first_price,
        timezone=tz,
        allow_duplicate_name=True,
    ).licensee.id
    schedule = {date(2026, 1, 1): first_price}
    with db.session() as session:
        for day, price in price_changes:
            set_price(session, lid, price, date(2026, 3, day))
            schedule[date(2026, 3, day)] = price
        session.commit()
    for offset, test, beyond in conversations:
        add_units(db, lid, [START + timedelta(seconds=offset)], test=test, beyond_term=beyond)

    # The independent count: each row's local date, its month, the price in force that day.
    zone = ZoneInfo(tz)
    counted: Counter[tuple[Decimal, bool]] = Counter()
    for offset, test, beyond in conversations:
        local = (START + timedelta(seconds=offset)).astimezone(zone).date()
        if test or f"{local:%Y-%m}" != MONTH:
            continue
        price = schedule[max(d for d in schedule if d <= local)]
        counted[(price, beyond)] += 1
    expected = sum(
        ((p * n).quantize(Decimal("0.01"), ROUND_HALF_UP) for (p, _), n in counted.items()),
        Decimal("0.00"),
    )

    with db.read_session() as session:
        statement = compute_month(session, get_licensee(session, lid), MONTH)
    assert statement.total == expected
    assert statement.units == sum(counted.values())
    assert Counter({(ln.unit_price, ln.beyond_term): ln.units for ln in statement.lines}) == counted
