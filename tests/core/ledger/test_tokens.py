"""The token ledger's write side: packages, redemption, prices and every call's draws."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from sqlmodel import select as orm_select

from core.db.engine import Database
from core.db.tables import ModelCall, ModelPrice, TokenDraw, TokenPackage, table_of
from core.errors import InvalidInput, NotFound
from core.ledger.money import package_cost_units, units_to_money
from core.ledger.report import monthly_report
from core.ledger.tokens import (
    REDEEM_WINDOW,
    TOKEN_LIFETIME,
    add_package,
    package_status,
    record_call,
    redeem,
    set_price,
)
from testkit.ledger import SECOND, T0, buy, call, price, record
from testkit.tenants import MakeTenant

CALLS, DRAWS, PACKAGES = table_of(ModelCall), table_of(TokenDraw), table_of(TokenPackage)


# ------------------------------------------------------------------------------ helpers


def draws(db: Database, call_id: str) -> list[tuple[str | None, int, Decimal]]:
    rows = db.read(
        lambda conn: conn.execute(
            select(DRAWS.c.package_id, DRAWS.c.tokens, DRAWS.c.cost)
            .where(DRAWS.c.call_id == call_id)
            .order_by(DRAWS.c.id)
        ).all()
    )
    return [(r[0], int(r[1]), r[2]) for r in rows]


def call_cost(db: Database, call_id: str) -> Decimal:
    cost: Decimal = db.read(
        lambda conn: conn.execute(select(CALLS.c.cost).where(CALLS.c.id == call_id)).scalar_one()
    )
    return cost


def left(db: Database, package_id: str) -> int:
    return int(
        db.read(
            lambda conn: conn.execute(
                select(PACKAGES.c.tokens_left).where(PACKAGES.c.id == package_id)
            ).scalar_one()
        )
    )


@pytest.fixture
def lic(make_tenant: MakeTenant) -> str:
    return make_tenant(now=T0).licensee.id


# ------------------------------------------------------------------------------ draw-down order


def test_draws_from_the_first_expiring_package_then_splits(db: Database, lic: str) -> None:
    # Bought first but redeemed last, so it expires last: purchase order is not expiry order.
    late = buy(db, tokens=1000, price="10", redeemed=T0 + timedelta(days=20))
    first = buy(db, tokens=300, price="3", purchased=T0 + SECOND, redeemed=T0 + SECOND)
    second = buy(db, tokens=500, price="50", purchased=T0 + 2 * SECOND, redeemed=T0 + 2 * SECOND)
    at = T0 + timedelta(days=21)

    one = call(db, lic, at, inp=100, out=100)
    assert draws(db, one) == [(first, 200, Decimal("2.0000000000"))]

    # The 50 cache hits are part of the 200 input tokens: 300 in all, 100 from first, 200 from second.
    split = call(db, lic, at, inp=200, out=100, cache=50)
    assert draws(db, split) == [(first, 100, Decimal("1")), (second, 200, Decimal("20"))]
    assert call_cost(db, split) == Decimal("21")
    assert (left(db, first), left(db, second), left(db, late)) == (0, 300, 1000)

    rest = call(db, lic, at, out=1000)  # the last 300 of second, then 700 of late
    assert draws(db, rest) == [(second, 300, Decimal("30")), (late, 700, Decimal("7"))]
    assert left(db, late) == 300


def test_equal_expiry_falls_back_to_purchase_order(db: Database, lic: str) -> None:
    redeemed = T0 + timedelta(days=5)
    newer = buy(db, purchased=T0 + timedelta(days=1), redeemed=redeemed)
    older = buy(db, purchased=T0, redeemed=redeemed)
    assert draws(db, call(db, lic, redeemed, inp=10))[0][0] == older
    assert left(db, newer) == 1000


def test_a_provider_draws_only_its_own_packages(db: Database, lic: str) -> None:
    other = buy(db, provider="SiliconFlow")
    price(db, "deepseek-chat", date(2026, 1, 1), "1", "1", "1")
    first = call(db, lic, T0, inp=10)
    assert draws(db, first) == [(None, 10, Decimal("0.00001"))]
    assert draws(db, call(db, lic, T0, inp=10, provider="siliconflow", model="m"))[0][0] == other


def test_a_package_costs_exactly_its_price_however_it_is_split(db: Database, lic: str) -> None:
    package = buy(db, tokens=3, price="10")
    costs = [draws(db, call(db, lic, T0, out=1))[0][2] for _ in range(3)]
    assert costs == [Decimal("3.3333333333"), Decimal("3.3333333334"), Decimal("3.3333333333")]
    assert sum(costs) == Decimal("10")
    assert left(db, package) == 0


def test_a_call_with_no_tokens_records_no_draws(db: Database, lic: str) -> None:
    package = buy(db)
    empty = call(db, lic, T0)
    assert draws(db, empty) == []
    assert call_cost(db, empty) == 0
    assert left(db, package) == 1000


def test_the_call_row_keeps_what_the_engine_reported(db: Database, lic: str) -> None:
    call_id = db.writer.run(
        lambda conn: record_call(
            conn,
            licensee_id=lic,
            conversation_id="conv_x",
            reply_id="msg_y",
            provider=" DeepSeek ",
            model="deepseek-chat",
            input_tokens=3_000_000_000,  # beyond 32 bits
            output_tokens=2,
            cache_hit_tokens=1,
            latency_ms=900,
            first_token_ms=None,
            outcome="fallback",
            now=T0,
        )
    )
    assert call_id.startswith("call_")
    row = db.read(lambda conn: conn.execute(select(CALLS).where(CALLS.c.id == call_id)).one())
    assert row.provider == "deepseek"
    assert (row.input_tokens, row.output_tokens, row.cache_hit_tokens) == (3_000_000_000, 2, 1)
    assert (row.conversation_id, row.reply_id, row.outcome) == ("conv_x", "msg_y", "fallback")
    assert row.first_token_ms is None and row.latency_ms == 900
    assert row.created_at == T0 and row.currency == "CNY"


def test_record_call_writes_in_the_callers_transaction(db: Database, lic: str) -> None:
    package = buy(db)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.session() as session, session.begin():
        record(session, lic, T0, inp=500)
        raise Abort
    assert left(db, package) == 1000
    assert db.read(lambda conn: conn.execute(select(func.count()).select_from(CALLS)).scalar()) == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"inp": -1}, "whole numbers"),
        ({"out": 1.5}, "whole numbers"),
        ({"model": ""}, "model"),
        ({"provider": " "}, "provider"),
    ],
)
def test_record_call_refuses_bad_values(
    db: Database, lic: str, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(db, lic, T0, **kw)


def test_record_call_refuses_more_cache_hits_than_input(db: Database, lic: str) -> None:
    package = buy(db)
    with pytest.raises(InvalidInput, match="cache-hit tokens are part of the input tokens"):
        call(db, lic, T0, inp=10, out=5, cache=11)
    assert left(db, package) == 1000
    assert db.read(lambda conn: conn.execute(select(func.count()).select_from(CALLS)).scalar()) == 0
    # A prompt served wholly from the cache is fine: it uses input + output tokens, no more.
    whole = call(db, lic, T0, inp=10, out=5, cache=10)
    assert draws(db, whole) == [(package, 15, Decimal("0.15"))]
    assert left(db, package) == 985


def test_record_call_refuses_a_naive_time(db: Database, lic: str) -> None:
    buy(db)
    with pytest.raises(InvalidInput, match="time zone"):
        call(db, lic, datetime(2026, 3, 2, 9, 0), inp=1)


# ------------------------------------------------------------------------------ expiry, redemption


def test_tokens_are_usable_until_just_before_expiry(db: Database, lic: str) -> None:
    package = buy(db, redeemed=T0 + timedelta(days=3))
    expires = T0 + timedelta(days=3) + TOKEN_LIFETIME
    assert draws(db, call(db, lic, expires - SECOND, inp=10))[0][0] == package
    assert draws(db, call(db, lic, expires, inp=10)) == [(None, 10, Decimal(0))]
    assert left(db, package) == 990


def test_a_package_funds_nothing_before_its_redemption_time(db: Database, lic: str) -> None:
    package = buy(db, redeemed=T0 + timedelta(days=2))
    assert draws(db, call(db, lic, T0 + timedelta(days=2) - SECOND, inp=5))[0][0] is None
    assert draws(db, call(db, lic, T0 + timedelta(days=2), inp=5))[0][0] == package


def test_redeem_sets_the_expiry_360_days_later(db: Database) -> None:
    package = buy(db, redeemed=None)
    with db.session() as session:
        row = redeem(session, package, T0 + timedelta(hours=5))
        session.commit()
    assert row.redeemed_at == T0 + timedelta(hours=5)
    assert row.expires_at == T0 + timedelta(hours=5, days=360)
    assert row.redeem_by == T0 + timedelta(days=30)


def test_redeem_on_the_last_allowed_second(db: Database) -> None:
    package = buy(db, redeemed=None)
    with db.session() as session:
        redeem(session, package, T0 + REDEEM_WINDOW)
        session.commit()


def test_redeem_one_second_late_is_refused(db: Database, lic: str) -> None:
    package = buy(db, redeemed=None)
    with db.session() as session, pytest.raises(InvalidInput, match="void"):
        redeem(session, package, T0 + REDEEM_WINDOW + SECOND)
    with db.read_session() as session:
        row = session.get(TokenPackage, package)
        assert row is not None and row.redeemed_at is None
        assert package_status(row, T0 + REDEEM_WINDOW + SECOND) == "void"
    # A void package never funds anything.
    assert draws(db, call(db, lic, T0 + timedelta(days=40), inp=1))[0][0] is None


def test_redeem_refuses_twice_before_purchase_and_unknown(db: Database) -> None:
    package = buy(db, redeemed=T0)
    with db.session() as session:
        with pytest.raises(InvalidInput, match="already redeemed"):
            redeem(session, package, T0 + SECOND)
        with pytest.raises(NotFound):
            redeem(session, "pkg_nope", T0)
    fresh = buy(db, redeemed=None)
    with db.session() as session, pytest.raises(InvalidInput, match="before it was purchased"):
        redeem(session, fresh, T0 - SECOND)


def test_an_unredeemed_package_never_funds_a_call(db: Database, lic: str) -> None:
    package = buy(db, redeemed=None)
    assert draws(db, call(db, lic, T0 + timedelta(days=1), inp=10)) == [(None, 10, Decimal(0))]
    assert left(db, package) == 1000


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"tokens": 0}, "positive"),
        ({"price": "-1"}, ">= 0"),
        ({"price": "1.00001"}, "4 decimals"),
        ({"price": "abc"}, "not a number"),
        ({"currency": "cny"}, "three capital"),
        ({"purchased": T0 + timedelta(days=1)}, "future"),
    ],
)
def test_add_package_refuses_bad_values(db: Database, kw: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"tokens": 10, "price": "1", "currency": "CNY", "purchased": T0}
    args.update(kw)
    with db.session() as session, pytest.raises(InvalidInput, match=message):
        add_package(
            session,
            "deepseek",
            args["tokens"],
            args["price"],
            args["currency"],
            "",
            args["purchased"],
            T0,
        )


def test_a_provider_bills_in_one_currency(db: Database) -> None:
    buy(db, currency="USD", provider="openai")
    with db.session() as session, pytest.raises(InvalidInput, match="bills in USD"):
        set_price(session, "openai", "gpt", "1", "1", "1", date(2026, 1, 1), "CNY")
    price(db, "gpt", date(2026, 1, 1), "1", "2", "0.5", provider="openai")  # currency: USD
    with db.read_session() as session:
        row = session.exec(orm_select(ModelPrice)).one()
        assert row.currency == "USD"


# ------------------------------------------------------------------------------ pay as you go


def test_pay_as_you_go_prices_each_kind_at_the_price_in_force(db: Database, lic: str) -> None:
    price(db, "deepseek-chat", date(2026, 3, 1), "2", "8", "0.5")
    price(db, "deepseek-chat", date(2026, 4, 1), "1", "4", "0.25")
    # The ledger's dates are Asia/Shanghai: 1 April starts at 16:00 UTC on 31 March.
    april = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    # 3000 input tokens, 2000 of them cache hits: 1000 uncached input, 500 output, 2000 cached.
    before = call(db, lic, april - SECOND, inp=3000, out=500, cache=2000)
    after = call(db, lic, april, inp=3000, out=500, cache=2000)
    assert call_cost(db, before) == Decimal("0.007")  # 0.002 + 0.004 + 0.001
    assert call_cost(db, after) == Decimal("0.0035")
    assert draws(db, before) == [(None, 3500, Decimal("0.007"))]
    too_early = call(db, lic, datetime(2026, 2, 28, 15, 0, tzinfo=UTC), inp=1000)
    assert call_cost(db, too_early) == 0  # no price yet: costed 0, and an alert says so


def test_set_price_again_on_the_same_day_replaces_it(db: Database, lic: str) -> None:
    price(db, "deepseek-chat", date(2026, 3, 1), "2", "8", "0.5")
    price(db, "deepseek-chat", date(2026, 3, 1), "3", "8", "0.5")
    assert call_cost(db, call(db, lic, T0, inp=1_000_000)) == Decimal("3")
    with db.session() as session, pytest.raises(InvalidInput, match="4 decimals"):
        set_price(session, "deepseek", "m", "0.00001", "1", "1", date(2026, 1, 1))


def test_what_a_package_leaves_is_paid_as_you_go_output_first(db: Database, lic: str) -> None:
    package = buy(db, tokens=100, price="1")
    price(db, "deepseek-chat", date(2026, 1, 1), "2", "8", "0.5")
    # The 90-token prompt (50 of them cache hits) and 10 output tokens come from the package.
    call_id = call(db, lic, T0, cache=50, inp=90, out=30)
    assert draws(db, call_id) == [(package, 100, Decimal("1")), (None, 20, Decimal("0.00016"))]
    assert call_cost(db, call_id) == Decimal("1.00016")
    # A package covers cache hits first: 30 of the 50 here. Paid as you go: the 30 output,
    # then the 40 uncached input, then the 20 cache hits left.
    small = buy(db, tokens=30, price="1", purchased=T0 + SECOND, redeemed=T0 + SECOND)
    split = call(db, lic, T0 + SECOND, cache=50, inp=90, out=30)
    payg = (30 * Decimal(8) + 40 * Decimal(2) + 20 * Decimal("0.5")) / 10**6
    assert payg == Decimal("0.00033")
    assert draws(db, split) == [(small, 30, Decimal("1")), (None, 90, payg)]
    assert call_cost(db, split) == Decimal("1.00033")


def test_pay_as_you_go_prices_uncached_input_cache_hits_and_output(db: Database, lic: str) -> None:
    price(db, "deepseek-chat", date(2026, 1, 1), "3", "11", "0.7")
    # 1000 input tokens, 800 of them from the provider's cache, and 100 output tokens.
    call_id = call(db, lic, T0, inp=1000, cache=800, out=100)
    expected = (200 * Decimal(3) + 800 * Decimal("0.7") + 100 * Decimal(11)) / 10**6
    assert expected == Decimal("0.00226")
    assert call_cost(db, call_id) == expected
    assert draws(db, call_id) == [(None, 1100, expected)]


# ------------------------------------------------------------------------------ exact sums


def test_many_random_calls_add_up_exactly(db: Database, make_tenant: MakeTenant) -> None:
    rng = random.Random(20261205)
    tenants = [make_tenant(name=f"T{i}", now=T0).licensee.id for i in range(3)]
    packages = {
        buy(db, tokens=7, price="3.33"): (7, Decimal("3.33")),
        buy(db, tokens=999_983, price="1234.5678", purchased=T0 + SECOND, redeemed=T0 + SECOND): (
            999_983,
            Decimal("1234.5678"),
        ),
        buy(
            db, tokens=123_457, price="0.0001", purchased=T0 + 2 * SECOND, redeemed=T0 + 2 * SECOND
        ): (
            123_457,
            Decimal("0.0001"),
        ),
    }
    price(db, "deepseek-chat", date(2026, 1, 1), "2.0001", "7.9999", "0.0003")
    expected_payg = Fraction(0)
    for _ in range(300):
        cache, out = rng.randrange(0, 9000), rng.randrange(0, 3000)
        inp = cache + rng.randrange(0, 5000)  # the cache hits are part of the input
        call_id = call(
            db,
            rng.choice(tenants),
            T0 + timedelta(minutes=rng.randrange(0, 40000)),
            inp=inp,
            out=out,
            cache=cache,
        )
        paid = [d for d in draws(db, call_id) if d[0] is None]
        if paid:
            n = paid[0][1]
            o = min(n, out)
            i = min(n - o, inp - cache)
            c = n - o - i
            assert 0 <= c <= cache
            expected_payg += (
                Fraction(i) * Fraction("2.0001")
                + Fraction(o) * Fraction("7.9999")
                + Fraction(c) * Fraction("0.0003")
            ) / 10**6

    def ledger(conn: Session) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
        return (
            conn.execute(
                select(
                    CALLS.c.cost,
                    CALLS.c.input_tokens + CALLS.c.output_tokens,
                )
            ).all(),
            conn.execute(select(DRAWS.c.package_id, DRAWS.c.tokens, DRAWS.c.cost)).all(),
            conn.execute(select(PACKAGES.c.id, PACKAGES.c.tokens_left)).all(),
        )

    calls, all_draws, balances = db.read(ledger)
    call_total = sum((c for c, _ in calls), Decimal(0))
    assert call_total == sum((d[2] for d in all_draws), Decimal(0))
    assert sum(int(t) for _, t in calls) == sum(int(d[1]) for d in all_draws)
    # What each package lost, at its unit price (rounded once, to 1e-10), plus pay-as-you-go.
    from_packages = Decimal(0)
    for package_id, tokens_left in balances:
        total, package_price = packages[package_id]
        used = total - int(tokens_left)
        assert used == sum(int(d[1]) for d in all_draws if d[0] == package_id)
        drawn = sum((d[2] for d in all_draws if d[0] == package_id), Decimal(0))
        assert drawn == units_to_money(package_cost_units(package_price, used, total))
        assert abs(Fraction(drawn) - Fraction(package_price) * used / total) <= Fraction(
            1, 2 * 10**10
        )
        from_packages += drawn
    payg = sum((d[2] for d in all_draws if d[0] is None), Decimal(0))
    assert Fraction(payg) == expected_payg  # pay-as-you-go needs no rounding at all
    assert call_total == from_packages + payg
    # The monthly report adds up to the same, to the last digit.
    with db.read_session() as session:
        reported = Decimal(0)
        for month in ("2026-02", "2026-03", "2026-04"):
            for line in monthly_report(session, month, T0 + timedelta(days=90)).licensees:
                reported += sum((c.total for c in line.costs), Decimal(0))
    assert reported == call_total


# ------------------------------------------------------------------------------ two writers


@pytest.fixture
def second_db(db: Database) -> Iterator[Database]:
    other = Database(db.url, sqlite_synchronous="NORMAL")
    yield other
    other.close()


def test_two_writers_never_overdraw(db: Database, second_db: Database, lic: str) -> None:
    package = buy(db, tokens=5000, price="50")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(database: Database) -> None:
        try:
            start.wait()
            for _ in range(40):
                call(database, lic, T0 + SECOND, inp=70, out=30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in (db, second_db)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = db.read(
        lambda conn: conn.execute(select(DRAWS.c.package_id, DRAWS.c.tokens, DRAWS.c.cost)).all()
    )
    assert sum(int(r[1]) for r in rows if r[0] == package) == 5000  # 8000 asked for, 5000 there
    assert sum(int(r[1]) for r in rows if r[0] is None) == 3000
    assert sum((r[2] for r in rows if r[0] == package), Decimal(0)) == Decimal(50)
    assert left(db, package) == 0


def test_a_second_writer_waits_for_the_first_and_sees_its_draw(
    db: Database, second_db: Database, lic: str
) -> None:
    package = buy(db, tokens=100)
    with db.session() as first, first.begin():
        record(first, lic, T0, inp=100)  # holds the package (PostgreSQL) or the database lock
        result: list[Any] = []

        def second() -> None:
            try:
                result.append(draws(second_db, call(second_db, lic, T0, inp=10)))
            except Exception as exc:  # shown by the assertion below
                result.append(exc)

        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive(), "the second writer should wait for the first one's commit"
    waiter.join(10)
    assert result == [[(None, 10, Decimal(0))]]  # the package was empty once it could look
    assert left(db, package) == 0
