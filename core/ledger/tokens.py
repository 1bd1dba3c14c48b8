"""The upstream model token ledger: prepaid packages, pay-as-you-go prices, every call's draws.

PRODUCT.md, "Upstream model cost". A call's tokens (cache-hit, input and output alike, one for
one) are drawn from its provider's redeemed, unexpired packages, the one that expires first
first; what no package covers is paid as you go at the model's price in force that day. How
costs stay exact is told in ``core.ledger.money``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from core.db.tables import ModelCall, ModelPrice, TokenDraw, TokenPackage, table_of
from core.errors import InvalidInput, NotFound
from core.ids import new_id
from core.ledger.money import (
    LEDGER_ZONE,
    check_currency,
    package_cost_units,
    parse_amount,
    per_million_units,
    provider_name,
    shown,
    units_to_money,
)
from core.licensing.service_period import local_date

REDEEM_WINDOW = timedelta(days=30)  # a package must be redeemed within 30 days of purchase
TOKEN_LIFETIME = timedelta(days=360)  # its tokens expire 360 days after redemption

_packages = table_of(TokenPackage)
_prices = table_of(ModelPrice)
P, MP = _packages.c, _prices.c

# Built once: record_call is on the chat engine's write path. FOR UPDATE (PostgreSQL; SQLite's
# writer already holds the database lock from BEGIN IMMEDIATE) makes two processes queue on
# the provider's packages instead of both reading the same balance.
_USABLE = (
    select(P.id, P.tokens_total, P.tokens_left, P.price, P.currency)
    .where(
        P.provider == bindparam("provider"),
        P.redeemed_at <= bindparam("now"),
        P.expires_at > bindparam("now"),
        P.tokens_left > 0,
    )
    .order_by(P.expires_at, P.purchased_at, P.id)
    .with_for_update()
)
# Guarded: even without the lock a balance can never go below what was read.
_DRAW = (
    update(_packages)
    .where(P.id == bindparam("pid"), P.tokens_left >= bindparam("take"))
    .values(tokens_left=P.tokens_left - bindparam("take"))
    .returning(P.id)
)
_PRICE = (
    select(MP.input_per_million, MP.output_per_million, MP.cache_hit_per_million, MP.currency)
    .where(
        MP.provider == bindparam("provider"),
        MP.model == bindparam("model"),
        MP.effective_from <= bindparam("day"),
    )
    .order_by(MP.effective_from.desc())
    .limit(1)
)
_INSERT_CALL = insert(table_of(ModelCall))
_INSERT_DRAW = insert(table_of(TokenDraw))


@dataclass(frozen=True, slots=True)
class Price:
    """Pay-as-you-go price per million tokens of each kind."""

    input: Decimal
    output: Decimal
    cache_hit: Decimal
    currency: str


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} needs a time zone")
    return moment


def package_status(package: TokenPackage, now: datetime) -> str:
    if package.redeemed_at is None:
        return "void" if now > package.redeem_by else "unredeemed"
    if package.expires_at is not None and now >= package.expires_at:
        return "expired"
    if now < package.redeemed_at:
        return "redeemed"  # redeemed with a future time: usable from then on
    return "active" if package.tokens_left > 0 else "exhausted"


# ---------------------------------------------------------------- operator actions


def _check_provider_currency(session: Session, provider: str, currency: str) -> None:
    """A provider bills in one currency: refuse a package or price in another one."""
    known = session.execute(
        select(P.currency)
        .where(P.provider == provider)
        .union(select(MP.currency).where(MP.provider == provider))
    ).scalars()
    other = sorted(set(known) - {currency})
    if other:
        raise InvalidInput(f"provider {provider!r} bills in {other[0]}, not {currency}")


def provider_currency(session: Session, provider: str) -> str | None:
    """The currency a provider's packages and prices are in; None for a provider not seen."""
    return session.execute(
        select(P.currency)
        .where(P.provider == provider)
        .union(select(MP.currency).where(MP.provider == provider))
        .limit(1)
    ).scalar()


def add_package(
    session: Session,
    provider: str,
    tokens: int,
    price: str | Decimal,
    currency: str,
    name: str,
    purchased_at: datetime,
    now: datetime,
) -> TokenPackage:
    """Record a bought package; it funds nothing until redeemed (by ``purchased_at`` + 30 d)."""
    provider = provider_name(provider)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0:
        raise InvalidInput("a package has a positive whole number of tokens")
    amount = parse_amount(price, "the package price")
    _check_provider_currency(session, provider, check_currency(currency))
    if len(name.strip()) > 100:
        raise InvalidInput("a package name is at most 100 characters")
    if _aware(purchased_at, "the purchase time") > _aware(now, "now"):
        raise InvalidInput("a package cannot be purchased in the future")
    package = TokenPackage(
        id=new_id("pkg"),
        provider=provider,
        name=name.strip(),
        tokens_total=tokens,
        tokens_left=tokens,
        price=amount,
        currency=currency,
        purchased_at=purchased_at,
        redeem_by=purchased_at + REDEEM_WINDOW,
        created_at=now,
    )
    session.add(package)
    session.flush()
    return package


def redeem(session: Session, package_id: str, at: datetime) -> TokenPackage:
    """Redeem a package at ``at`` (at most 30 days after purchase); it expires 360 days later."""
    package = session.get(TokenPackage, package_id)
    if package is None:
        raise NotFound(f"no token package {package_id!r}")
    _aware(at, "the redemption time")
    if package.redeemed_at is not None:
        raise InvalidInput(f"{package_id} was already redeemed at {shown(package.redeemed_at)}")
    if at < package.purchased_at:
        raise InvalidInput(f"{package_id} cannot be redeemed before it was purchased")
    if at > package.redeem_by:
        raise InvalidInput(
            f"{package_id} had to be redeemed by {shown(package.redeem_by)}: it is void"
        )
    # Guarded so that two operators redeeming at once cannot both set the dates.
    done = session.execute(
        update(_packages)
        .where(P.id == package_id, P.redeemed_at.is_(None))
        .values(redeemed_at=at, expires_at=at + TOKEN_LIFETIME)
        .returning(P.id)
    ).first()
    if done is None:
        raise InvalidInput(f"{package_id} was already redeemed")
    session.refresh(package)
    return package


def set_price(
    session: Session,
    provider: str,
    model: str,
    input: str | Decimal,
    output: str | Decimal,
    cache_hit: str | Decimal,
    effective_from: date,
    currency: str | None = None,
) -> ModelPrice:
    """Set a model's pay-as-you-go prices per million tokens from ``effective_from`` (ledger
    date); ``currency`` defaults to the provider's (CNY for a new provider)."""
    provider = provider_name(provider)
    model = model.strip()
    if not model or len(model) > 100:
        raise InvalidInput("a model name is 1 to 100 characters")
    if currency is None:
        currency = provider_currency(session, provider) or "CNY"
    _check_provider_currency(session, provider, check_currency(currency))
    amounts = {
        "input_per_million": parse_amount(input, "the input price"),
        "output_per_million": parse_amount(output, "the output price"),
        "cache_hit_per_million": parse_amount(cache_hit, "the cache-hit price"),
    }
    row = session.execute(
        select(MP.id).where(
            MP.provider == provider, MP.model == model, MP.effective_from == effective_from
        )
    ).scalar()
    price = ModelPrice(
        id=row,
        provider=provider,
        model=model,
        effective_from=effective_from,
        currency=currency,
        **amounts,
    )
    price = session.merge(price)
    session.flush()
    return price


# ---------------------------------------------------------------- the write path


def price_on(session: Session, provider: str, model: str, day: date) -> Price | None:
    """The model's pay-as-you-go price in force on ``day`` (ledger date), if any."""
    row = session.execute(_PRICE, {"provider": provider, "model": model, "day": day}).first()
    return None if row is None else Price(row[0], row[1], row[2], row[3])


def record_call(
    session: Session,
    *,
    licensee_id: str,
    conversation_id: str | None,
    reply_id: str | None,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_hit_tokens: int,
    latency_ms: int,
    first_token_ms: int | None,
    outcome: str,
    now: datetime,
) -> str:
    """Record one model call and its draws in the caller's transaction; returns its id.

    Tokens come from the provider's usable packages, first-expiring first (then by purchase),
    a call split across packages as needed; the rest is paid as you go. ``input_tokens`` is
    the whole prompt, ``cache_hit_tokens`` the part of it the provider served from its cache
    (as providers report them); a call uses input + output tokens of a package. Within a call
    the prompt (cache-hit, then the rest of the input) is covered before the output, so what is
    paid as you go is output first. Pay-as-you-go tokens with no price in force cost 0, are
    marked unpriced and raise an ``unpriced`` alert; a price set later does not change
    recorded costs.
    """
    counts = (cache_hit_tokens, input_tokens, output_tokens)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
        raise InvalidInput("token counts are whole numbers >= 0")
    if cache_hit_tokens > input_tokens:
        # As providers report them: the cache hits are the part of the prompt served from
        # the provider's cache, counted in input_tokens too.
        raise InvalidInput("cache-hit tokens are part of the input tokens")
    if len(outcome) > 32 or not model or len(model) > 100:
        raise InvalidInput("an outcome is at most 32 characters, a model 1 to 100")
    provider = provider_name(provider)
    call_id = new_id("call")
    draws: list[dict[str, object]] = []
    total_units = 0
    currency: str | None = None
    remaining = input_tokens + output_tokens
    if remaining:
        for row in session.execute(
            _USABLE, {"provider": provider, "now": _aware(now, "now")}
        ).all():
            take = min(row.tokens_left, remaining)
            used = row.tokens_total - row.tokens_left
            units = package_cost_units(row.price, used + take, row.tokens_total)
            units -= package_cost_units(row.price, used, row.tokens_total)
            if session.execute(_DRAW, {"pid": row.id, "take": take}).first() is None:
                raise RuntimeError(f"token package {row.id} changed under the ledger's lock")
            draws.append(_draw(call_id, row.id, take, units, priced=True))
            total_units += units
            currency = row.currency
            remaining -= take
            if not remaining:
                break
    if remaining:
        paid_output = min(remaining, output_tokens)
        paid_input = min(remaining - paid_output, input_tokens - cache_hit_tokens)
        paid_cache = remaining - paid_output - paid_input
        price = price_on(session, provider, model, local_date(now, LEDGER_ZONE))
        units = 0
        if price is not None:
            units = sum(
                per_million_units(n, p)
                for n, p in (
                    (paid_input, price.input),
                    (paid_output, price.output),
                    (paid_cache, price.cache_hit),
                )
            )
            currency = price.currency
        draws.append(_draw(call_id, None, remaining, units, priced=price is not None))
        total_units += units
    session.execute(
        _INSERT_CALL,
        {
            "id": call_id,
            "licensee_id": licensee_id,
            "conversation_id": conversation_id,
            "reply_id": reply_id,
            "provider": provider,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_hit_tokens": cache_hit_tokens,
            "latency_ms": latency_ms,
            "first_token_ms": first_token_ms,
            "outcome": outcome,
            "cost": units_to_money(total_units),
            "currency": currency or provider_currency(session, provider) or "CNY",
            "created_at": now,
        },
    )
    if draws:
        session.execute(_INSERT_DRAW, draws)
    return call_id


def _draw(
    call_id: str, package_id: str | None, tokens: int, units: int, *, priced: bool
) -> dict[str, object]:
    return {
        "call_id": call_id,
        "package_id": package_id,
        "tokens": tokens,
        "cost": units_to_money(units),
        "priced": priced,
    }
