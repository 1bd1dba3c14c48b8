"""The token ledger's read side: alerts at their thresholds, the month per licensee, margin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from core.db.engine import Database
from core.db.tables import ApiKey, Conversation, KeyKind, PriceSchedule
from core.errors import InvalidInput
from core.ledger.report import Alert, AlertKind, LicenseeMonth, alerts, monthly_report
from core.ledger.tokens import REDEEM_WINDOW, TOKEN_LIFETIME
from testkit.ledger import SECOND, T0, buy, call, price
from testkit.tenants import MakeTenant

DAY = timedelta(days=1)


def found(db: Database, now: datetime) -> list[Alert]:
    with db.read_session() as session:
        return alerts(session, now)


def kinds(db: Database, now: datetime) -> list[str]:
    return [a.kind.value for a in found(db, now)]


def month(db: Database, which: str, now: datetime = T0 + 90 * DAY) -> dict[str, LicenseeMonth]:
    with db.read_session() as session:
        return {line.licensee_id: line for line in monthly_report(session, which, now).licensees}


@pytest.fixture
def lic(make_tenant: MakeTenant) -> str:
    return make_tenant(now=T0).licensee.id


# ------------------------------------------------------------------------------ alerts


def test_low_alert_below_ten_percent_left(db: Database, lic: str) -> None:
    package = buy(db, tokens=1000)
    call(db, lic, T0, inp=900)
    assert kinds(db, T0) == []  # exactly 10 % left
    call(db, lic, T0, inp=1)
    [alert] = found(db, T0)
    assert (alert.kind, alert.package_id, alert.provider) == (AlertKind.LOW, package, "deepseek")
    assert "99 of 1,000" in alert.message


def test_an_exhausted_package_is_not_low_but_pay_as_you_go_is_flagged(
    db: Database, lic: str
) -> None:
    buy(db, tokens=10)
    price(db, "deepseek-chat", date(2026, 1, 1), "1", "1", "1")
    call(db, lic, T0, inp=25)
    assert [a.kind for a in found(db, T0)] == [AlertKind.PAY_AS_YOU_GO]
    assert "15 tokens" in found(db, T0)[0].message
    assert kinds(db, T0 + 40 * DAY) == []  # next month: no pay-as-you-go use yet


def test_expiring_alert_thirty_days_ahead(db: Database) -> None:
    package = buy(db)
    expires = T0 + TOKEN_LIFETIME
    assert kinds(db, expires - 30 * DAY - SECOND) == []
    [alert] = found(db, expires - 30 * DAY)
    assert (alert.kind, alert.package_id, alert.due) == (AlertKind.EXPIRING, package, expires)
    assert kinds(db, expires - SECOND) == ["expiring"]
    assert kinds(db, expires) == []  # expired: nothing left to save


def test_redeem_due_seven_days_ahead_then_void(db: Database) -> None:
    package = buy(db, redeemed=None)
    redeem_by = T0 + REDEEM_WINDOW
    assert kinds(db, redeem_by - 7 * DAY - SECOND) == []
    assert kinds(db, redeem_by - 7 * DAY) == ["redeem_due"]
    assert kinds(db, redeem_by) == ["redeem_due"]  # still allowed on the last second
    [alert] = found(db, redeem_by + SECOND)
    assert (alert.kind, alert.package_id) == (AlertKind.VOID, package)
    assert "void" in alert.message


def test_pay_as_you_go_without_packages_is_the_plan_not_an_alert(db: Database, lic: str) -> None:
    price(db, "gpt-4o-mini", date(2026, 1, 1), "1", "4", "0.5", provider="openai", currency="USD")
    call(db, lic, T0, inp=1000, provider="openai", model="gpt-4o-mini")
    assert kinds(db, T0) == []


def test_pay_as_you_go_with_no_price_is_flagged(db: Database, lic: str) -> None:
    call(db, lic, T0, inp=1000, model="deepseek-reasoner")
    [alert] = found(db, T0)
    assert (alert.kind, alert.provider) == (AlertKind.UNPRICED, "deepseek")
    assert "deepseek-reasoner" in alert.message
    assert "1,000" in alert.message
    # A price set afterwards, even one dated back, does not change what was recorded.
    price(db, "deepseek-reasoner", date(2026, 3, 1), "4", "16", "1")
    call(db, lic, T0 + DAY, inp=1000, model="deepseek-reasoner")
    [again] = found(db, T0 + DAY)
    assert again.kind == AlertKind.UNPRICED and "1,000" in again.message
    line = month(db, "2026-03")[lic]
    assert line.unpriced_tokens == 1000
    assert line.costs[0].pay_as_you_go == Decimal("0.004")
    assert kinds(db, T0 + 30 * DAY) == []  # April: nothing unpriced


# ------------------------------------------------------------------------------ the month


def test_the_month_is_the_licensees_own(db: Database, make_tenant: MakeTenant) -> None:
    shanghai = make_tenant(name="Shanghai", now=T0).licensee.id
    utc = make_tenant(name="UTC", now=T0, timezone="UTC").licensee.id
    price(db, "deepseek-chat", date(2026, 1, 1), "1", "1", "1")
    at = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)  # 1 April 00:30 in Shanghai
    for licensee in (shanghai, utc):
        call(db, licensee, at, inp=1_000_000)
    march, april = month(db, "2026-03"), month(db, "2026-04")
    assert set(march) == {utc} and set(april) == {shanghai}
    assert march[utc].calls == april[shanghai].calls == 1
    assert april[shanghai].costs[0].pay_as_you_go == Decimal(1)


def add_conversation(db: Database, licensee_id: str, started: datetime, test: bool) -> None:
    with db.session() as session:
        key = session.exec(
            select(ApiKey).where(
                ApiKey.licensee_id == licensee_id,
                ApiKey.kind == (KeyKind.TEST if test else KeyKind.LIVE),
            )
        ).one()
        session.add(
            Conversation(
                id=f"conv_{started.timestamp():.0f}_{int(test)}",
                licensee_id=licensee_id,
                visitor_id=f"v_{started.timestamp():.0f}",
                key_id=key.id,
                test=test,
                started_at=started,
                last_activity_at=started,
                ended_at=started + timedelta(minutes=5),
            )
        )
        session.commit()


def test_cost_revenue_and_margin_per_licensee(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant(
        now=T0, start=date(2026, 3, 1), end=date(2027, 2, 28), unit_price=Decimal("0.50")
    ).licensee.id
    with db.session() as session:
        session.add(
            PriceSchedule(
                licensee_id=lic, effective_from=date(2026, 3, 16), unit_price=Decimal("0.80")
            )
        )
        session.commit()
    add_conversation(db, lic, datetime(2026, 3, 10, 2, 0, tzinfo=UTC), test=False)
    add_conversation(db, lic, datetime(2026, 3, 10, 3, 0, tzinfo=UTC), test=False)
    add_conversation(db, lic, datetime(2026, 3, 15, 16, 10, tzinfo=UTC), test=False)  # 16th local
    add_conversation(db, lic, datetime(2026, 3, 20, 3, 0, tzinfo=UTC), test=True)
    buy(db, tokens=1000, price="1")
    price(db, "deepseek-chat", date(2026, 1, 1), "1000", "1000", "1000")  # 0.001 a token
    call(db, lic, T0, inp=900, out=100, cache=300)  # 900 + 100 use the package up: 1.00
    call(db, lic, T0, out=150)  # paid as you go: 0.15

    line = month(db, "2026-03", now=T0)[lic]
    assert (line.calls, line.input_tokens, line.output_tokens, line.cache_hit_tokens) == (
        2,
        900,
        250,
        300,
    )
    assert line.tokens == 1150  # the cache hits are part of the input
    assert (line.conversations, line.units, line.unpriced_units) == (4, 3, 0)
    [cost] = line.costs
    assert (cost.currency, cost.from_packages, cost.pay_as_you_go) == (
        "CNY",
        Decimal(1),
        Decimal("0.15"),
    )
    assert cost.total == Decimal("1.15")
    [revenue] = line.revenue
    assert (revenue.currency, revenue.amount) == ("CNY", Decimal("1.80"))  # 0.50 + 0.50 + 0.80
    assert line.margin is not None and line.margin.amount == Decimal("0.65")
    assert not line.complete
    assert month(db, "2026-03", now=datetime(2026, 3, 31, 16, 0, tzinfo=UTC))[lic].complete


def test_no_margin_across_currencies(db: Database, lic: str) -> None:
    price(db, "gpt-4o-mini", date(2026, 1, 1), "1", "4", "0.5", provider="openai", currency="USD")
    call(db, lic, T0, inp=1_000_000, provider="openai", model="gpt-4o-mini")
    add_conversation(db, lic, T0, test=False)
    line = month(db, "2026-03")[lic]
    assert [(c.currency, c.total) for c in line.costs] == [("USD", Decimal(1))]
    assert [(r.currency, r.amount) for r in line.revenue] == [("CNY", Decimal("0.50"))]
    assert line.margin is None


def test_units_before_any_unit_price_are_counted_apart(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0, start=date(2026, 3, 20), end=date(2027, 3, 19)).licensee.id
    add_conversation(db, lic, T0, test=False)  # 2 March: before the first price schedule
    line = month(db, "2026-03")[lic]
    assert (line.units, line.unpriced_units, line.revenue) == (1, 1, ())


def test_the_report_lists_packages_and_skips_idle_licensees(
    db: Database, make_tenant: MakeTenant
) -> None:
    active = make_tenant(name="Active", now=T0).licensee.id
    make_tenant(name="Idle", now=T0)
    package = buy(db, tokens=4, price="1")
    unredeemed = buy(db, redeemed=None, purchased=T0 + SECOND)
    call(db, active, T0, inp=1)
    with db.read_session() as session:
        report = monthly_report(session, "2026-03", T0)
    assert [line.licensee_id for line in report.licensees] == [active]
    balances = {b.package.id: b for b in report.packages}
    assert balances[package].status == "active"
    assert balances[package].package.tokens_left == 3
    assert balances[package].used_cost == Decimal("0.25")
    assert balances[unredeemed].status == "unredeemed"


@pytest.mark.parametrize("bad", ["2026-13", "26-03", "2026-3", ""])
def test_the_report_refuses_a_malformed_month(db: Database, bad: str) -> None:
    with db.read_session() as session, pytest.raises(InvalidInput):
        monthly_report(session, bad, T0)
