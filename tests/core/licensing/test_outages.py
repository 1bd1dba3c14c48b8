"""Outages extend the service end by whole days of cumulative outage time; availability is
exact. Bad input is refused with nothing recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.db.tables import Licensee, Outage
from core.errors import InvalidInput, NotFound
from core.licensing.outages import (
    availability,
    list_outages,
    percent,
    record_outage,
    union_length,
    whole_days,
)
from testkit.tenants import MakeTenant, Tenant

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NOW = datetime(2026, 12, 20, tzinfo=UTC)
END = date(2027, 11, 30)


def shop(make_tenant: MakeTenant, name: str = "Shop") -> Tenant:
    return make_tenant(name, now=T0, start=date(2026, 12, 1), end=END)


def end_of(db: Database, licensee_id: str) -> date:
    with db.read_session() as session:
        licensee = session.get(Licensee, licensee_id)
        assert licensee is not None
        return licensee.service_end


def add(
    db: Database, start: datetime, length: timedelta, ids: list[str] | None, now: datetime = NOW
) -> list[int]:
    with db.session() as session:
        _outage, affected = record_outage(
            session, starts_at=start, ends_at=start + length, reason="数据库故障", licensee_ids=ids,
            now=now,
        )  # fmt: skip
        session.commit()
    return [a.days_added for a in affected]


def test_whole_days_round_up_and_unions_count_overlaps_once() -> None:
    assert [whole_days(timedelta(seconds=s)) for s in (0, 1, 86_400, 86_401)] == [0, 1, 1, 2]
    hour = timedelta(hours=1)
    assert union_length([(T0, T0 + 2 * hour), (T0 + hour, T0 + 3 * hour)]) == 3 * hour
    assert union_length([(T0, T0 + hour), (T0 + 2 * hour, T0 + 3 * hour)]) == 2 * hour
    assert union_length([(T0, T0 + 3 * hour), (T0 + hour, T0 + 2 * hour)]) == 3 * hour


def test_an_outage_extends_the_end_by_its_length_rounded_up_to_days_cumulatively(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = shop(make_tenant)
    lic = t.licensee.id
    assert add(db, T0, timedelta(minutes=90), [lic]) == [1]  # the first minute costs a day
    assert end_of(db, lic) == END + timedelta(days=1)
    assert add(db, T0 + timedelta(days=1), timedelta(hours=22), [lic]) == [0]  # 23.5 h in all
    assert add(db, T0 + timedelta(days=2), timedelta(hours=1), [lic]) == [1]  # 24.5 h: 2 days
    assert add(db, T0, timedelta(minutes=30), [lic]) == [0]  # inside the first: counted once
    assert end_of(db, lic) == END + timedelta(days=2)


def test_all_affects_every_licensee_not_revoked_that_had_started(
    db: Database, make_tenant: MakeTenant
) -> None:
    a, b = shop(make_tenant, "A"), shop(make_tenant, "B")
    later = make_tenant("Later", now=T0, start=date(2027, 1, 1))
    add(db, T0, timedelta(hours=3), None)
    assert end_of(db, a.licensee.id) == end_of(db, b.licensee.id) == END + timedelta(days=1)
    assert end_of(db, later.licensee.id) == date(2027, 12, 31)  # not in service yet
    with db.read_session() as session:
        [(outage, links)] = list_outages(session)
    assert outage.all_licensees and outage.reason == "数据库故障"
    assert sorted(x.licensee_id for x in links) == sorted([a.licensee.id, b.licensee.id])


def test_another_licensee_is_untouched_by_an_outage_of_one(
    db: Database, make_tenant: MakeTenant
) -> None:
    a, b = shop(make_tenant, "A"), shop(make_tenant, "B")
    add(db, T0, timedelta(hours=3), [a.licensee.id])
    assert end_of(db, b.licensee.id) == END


@pytest.mark.parametrize(
    ("start", "length", "reason", "ids", "message"),
    [
        (T0, timedelta(0), "x", None, "ends after it starts"),
        (T0, -timedelta(hours=1), "x", None, "ends after it starts"),
        (NOW - timedelta(minutes=5), timedelta(hours=1), "x", None, "once it is over"),
        (T0, timedelta(hours=1), "  ", None, "reason"),
        (T0, timedelta(hours=1), "x" * 501, None, "reason"),
        (T0, timedelta(hours=1), "x", [], "name the affected"),
        (datetime(2026, 11, 1, tzinfo=UTC), timedelta(hours=1), "x", ["*"], "before"),
    ],
)
def test_bad_outages_are_refused_and_nothing_is_recorded(
    db: Database,
    make_tenant: MakeTenant,
    start: datetime,
    length: timedelta,
    reason: str,
    ids: list[str] | None,
    message: str,
) -> None:
    t = shop(make_tenant)
    ids = [t.licensee.id if i == "*" else i for i in ids] if ids is not None else None
    with db.session() as session, pytest.raises(InvalidInput, match=message):
        record_outage(
            session, starts_at=start, ends_at=start + length, reason=reason, licensee_ids=ids,
            now=NOW,
        )  # fmt: skip
    with db.read_session() as session:
        assert session.execute(select(func.count()).select_from(Outage)).scalar_one() == 0
    assert end_of(db, t.licensee.id) == END
    with db.session() as session, pytest.raises(NotFound):
        record_outage(
            session, starts_at=T0, ends_at=T0 + timedelta(hours=1), reason="x",
            licensee_ids=["lic_nope"], now=NOW,
        )  # fmt: skip


def test_availability_is_exact_per_month_in_the_licensees_zone(
    db: Database, make_tenant: MakeTenant
) -> None:
    a, b = shop(make_tenant, "A"), shop(make_tenant, "B")
    # 90 minutes for A, and an overlapping 60 for both; the month ends in Shanghai at 16:00 UTC
    # of 12-31, so an outage from 15:00 to 17:00 UTC counts one hour in December.
    add(db, T0, timedelta(minutes=90), [a.licensee.id])
    add(db, T0 + timedelta(minutes=30), timedelta(minutes=60), None)
    year_end = datetime(2026, 12, 31, 15, tzinfo=UTC)
    add(db, year_end, timedelta(hours=2), [b.licensee.id], now=datetime(2027, 1, 5, tzinfo=UTC))
    with db.read_session() as session:
        report = {
            r.licensee_id: r
            for r in availability(session, "2026-12", datetime(2027, 2, 1, tzinfo=UTC))
        }
    month = timedelta(days=31)
    ra, rb = report[a.licensee.id], report[b.licensee.id]
    assert (ra.served, ra.down) == (month, timedelta(minutes=90))
    assert (rb.served, rb.down) == (month, timedelta(hours=2))
    # 1 - 5400 / 2678400 = 99.79838...%: rounded down to 99.798
    assert ra.percent == Decimal("99.798")
    assert rb.percent == Decimal("99.731")  # 1 - 7200 / 2678400 = 99.73118...
    with db.read_session() as session:
        [jan] = availability(session, "2027-01", datetime(2027, 2, 1, tzinfo=UTC), [b.licensee.id])
    assert jan.down == timedelta(hours=1)
    with db.read_session() as session:  # the current month: up to now
        [dec] = availability(session, "2026-12", NOW, [a.licensee.id])
    assert dec.served == NOW - datetime(2026, 11, 30, 16, tzinfo=UTC)
    with db.read_session() as session:  # before it started: not in service, no percentage
        [nov] = availability(session, "2026-11", NOW, [a.licensee.id])
    assert nov.percent is None and nov.served == timedelta(0)
    with db.read_session() as session, pytest.raises(InvalidInput):
        availability(session, "2026-13", NOW)


def test_a_percentage_never_rounds_up_to_100() -> None:
    assert percent(timedelta(days=30) - timedelta(seconds=1), timedelta(days=30)) == Decimal(
        "99.999"
    )
    assert percent(timedelta(days=30), timedelta(days=30)) == Decimal("100.000")
