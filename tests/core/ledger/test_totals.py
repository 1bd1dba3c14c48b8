"""The month's totals per currency: cost, revenue and, when it means something, margin."""

from __future__ import annotations

from decimal import Decimal

from core.ledger.report import Cost, CurrencyTotal, LicenseeMonth, Money, totals


def month(lid: str, costs: list[Cost], revenue: list[Money]) -> LicenseeMonth:
    currencies = {c.currency for c in costs} | {r.currency for r in revenue}
    margin = None
    if len(currencies) <= 1:
        earned = sum((r.amount for r in revenue), Decimal(0))
        spent = sum((c.total for c in costs), Decimal(0))
        margin = Money(currencies.pop() if currencies else "CNY", earned - spent)
    return LicenseeMonth(
        licensee_id=lid,
        name=lid,
        timezone="Asia/Shanghai",
        complete=True,
        calls=1,
        input_tokens=0,
        output_tokens=0,
        cache_hit_tokens=0,
        costs=tuple(costs),
        unpriced_tokens=0,
        conversations=1,
        units=1,
        revenue=tuple(revenue),
        unpriced_units=0,
        margin=margin,
    )


def test_totals_add_up_exactly_per_currency() -> None:
    lines = [
        month(
            "a", [Cost("CNY", Decimal("0.0000000001"), Decimal("1.5"))], [Money("CNY", Decimal(3))]
        ),
        month("b", [Cost("CNY", Decimal("0.25"), Decimal(0))], [Money("CNY", Decimal("0.5"))]),
    ]
    assert totals(lines) == [
        CurrencyTotal("CNY", Decimal("1.7500000001"), Decimal("3.5"), Decimal("1.7499999999"))
    ]


def test_no_margin_when_a_licensee_mixes_currencies() -> None:
    lines = [
        month("a", [Cost("USD", Decimal(1), Decimal(0))], [Money("CNY", Decimal(10))]),
        month("b", [Cost("CNY", Decimal(2), Decimal(0))], [Money("CNY", Decimal(5))]),
    ]
    assert totals(lines) == [
        CurrencyTotal("CNY", Decimal(2), Decimal(15), None),
        CurrencyTotal("USD", Decimal(1), Decimal(0), None),
    ]
    assert totals([]) == []
