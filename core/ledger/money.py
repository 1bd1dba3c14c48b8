"""Exact money of the token ledger: integer units of 1e-10, prices, currencies, rounding.

A cost is counted in whole units of 1e-10 (``COST_PLACES``) and only becomes a ``Decimal`` to
be stored or shown. A draw from a package costs the difference of the package's cumulative cost
after and before it, each ``price × used / total`` rounded half-even to 1e-10; so the draws of a
package add up to exactly that rounded cumulative cost (the whole price once it is used up),
however many calls share the package. Pay-as-you-go prices have at most 4 decimals per million
tokens, so their cost needs no rounding at all. Reports add stored per-call costs and round to
0.01 only when they show them (``cents``).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.errors import InvalidInput
from core.licensing.service_period import DEFAULT_TIMEZONE, zone

COST_PLACES = 10
PRICE_PLACES = 4
# The licensor's own calendar: model price effective dates, CLI dates, the alerts' month.
LEDGER_ZONE = DEFAULT_TIMEZONE
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
_CENT = Decimal("0.01")


def provider_name(provider: str) -> str:
    """Providers are matched case-insensitively: ``DeepSeek`` and ``deepseek`` are one."""
    name = provider.strip().lower()
    if not name or len(name) > 40:
        raise InvalidInput("a provider name is 1 to 40 characters", code="ledger.provider_name")
    return name


def parse_amount(value: str | Decimal, what: str = "a price") -> Decimal:
    """A price: finite, >= 0, at most 4 decimals (which keeps every cost exact at 1e-10)."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(
            f"{what} is not a number: {value!r}", code="money.not_number", field=what, value=value
        ) from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount < 0 or not isinstance(exponent, int):
        raise InvalidInput(
            f"{what} must be a number >= 0: {value}", code="money.negative", field=what, value=value
        )
    if exponent < -PRICE_PLACES:
        raise InvalidInput(
            f"{what} has at most {PRICE_PLACES} decimals: {value}",
            code="money.price_decimals",
            field=what,
            value=value,
            places=PRICE_PLACES,
        )
    return amount


def check_currency(currency: str) -> str:
    if _CURRENCY.fullmatch(currency) is None:
        raise InvalidInput(
            f"a currency is three capital letters (ISO 4217), got {currency!r}",
            code="money.currency",
            value=currency,
        )
    return currency


def units_to_money(units: int) -> Decimal:
    return Decimal(units).scaleb(-COST_PLACES)


def money_to_units(amount: Decimal) -> int:
    scaled = amount.scaleb(COST_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {COST_PLACES} decimals")
    return int(scaled)


def per_million_units(tokens: int, price_per_million: Decimal) -> int:
    """``tokens × price / 1e6`` in units of 1e-10: a whole number for a 4-decimal price."""
    scaled = price_per_million.scaleb(COST_PLACES - 6)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"a price per million has at most {COST_PLACES - 6} decimals")
    return tokens * int(scaled)


def package_cost_units(price: Decimal, used: int, total: int) -> int:
    """``price × used / total`` in units of 1e-10, rounded half-even, on integers (exact)."""
    quotient, rest = divmod(money_to_units(price) * used, total)
    if 2 * rest > total or (2 * rest == total and quotient % 2):
        quotient += 1
    return quotient


def cents(amount: Decimal) -> Decimal:
    """Rounded half-up to 0.01: for showing only, never for adding up."""
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def plain(amount: Decimal) -> str:
    """A Decimal as plain digits (never ``1E-10``)."""
    return format(amount, "f")


def shown(moment: datetime) -> str:
    """A time as the operator reads it: the ledger's zone, to the second."""
    return moment.astimezone(zone(LEDGER_ZONE)).isoformat(timespec="seconds")
