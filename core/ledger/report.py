"""What the token ledger tells the licensor: package balances, alerts, monthly cost and margin.

Everything here is derived from the ledger's rows (model calls, draws, packages) and the usage
units, never from counters; sums are exact, rounding is left to whoever shows them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, select
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from core.billing import prices
from core.db.tables import Licensee, ModelCall, TokenDraw, TokenPackage, table_of
from core.ledger.money import (
    LEDGER_ZONE,
    money_to_units,
    package_cost_units,
    shown,
    units_to_money,
)
from core.ledger.tokens import package_status
from core.licensing.service_period import month_bounds, month_of
from core.reporting.usage import month_usage

LOW_SHARE = Decimal("0.10")  # a redeemed package with less than 10 % of its tokens left
EXPIRY_WARNING = timedelta(days=30)
REDEEM_WARNING = timedelta(days=7)

_calls, _draws = table_of(ModelCall), table_of(TokenDraw)
C, D = _calls.c, _draws.c


class AlertKind(StrEnum):
    LOW = "low"  # a redeemed package has less than 10 % of its tokens left
    EXPIRING = "expiring"  # a package's tokens expire within 30 days
    REDEEM_DUE = "redeem_due"  # an unredeemed package must be redeemed within 7 days
    VOID = "void"  # its redeem-by passed unredeemed: it funds nothing
    PAY_AS_YOU_GO = "pay_as_you_go"  # a provider's packages ran out: paid as you go this month
    UNPRICED = "unpriced"  # pay-as-you-go tokens with no price in force, costed at 0


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    provider: str
    package_id: str | None
    message: str
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Money:
    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Cost:
    currency: str
    from_packages: Decimal
    pay_as_you_go: Decimal

    @property
    def total(self) -> Decimal:
        return self.from_packages + self.pay_as_you_go


@dataclass(frozen=True, slots=True)
class LicenseeMonth:
    licensee_id: str
    name: str
    timezone: str
    complete: bool  # the month is over in the licensee's zone
    calls: int
    input_tokens: int
    output_tokens: int
    cache_hit_tokens: int
    costs: tuple[Cost, ...]  # one per currency the licensee's calls were paid in
    unpriced_tokens: int  # paid as you go with no price in force: in the costs at 0
    conversations: int  # every conversation that started in the month, test ones included
    units: int  # billable conversations; test ones never count
    revenue: tuple[Money, ...]
    unpriced_units: int  # units started before any unit price was in force
    margin: Money | None  # revenue - cost, when they are in one currency

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens  # cache hits are part of the input


@dataclass(frozen=True, slots=True)
class PackageBalance:
    package: TokenPackage
    status: str
    used_cost: Decimal  # what the tokens used so far are worth at the package's price


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    """One currency's sums over every licensee of a month."""

    currency: str
    cost: Decimal
    revenue: Decimal
    margin: Decimal | None  # None when some licensee mixes currencies (no margin of its own)


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: str
    licensees: list[LicenseeMonth]
    packages: list[PackageBalance]

    @property
    def totals(self) -> list[CurrencyTotal]:
        return totals(self.licensees)


# ---------------------------------------------------------------- packages and alerts


def package_balances(session: Session, now: datetime) -> list[PackageBalance]:
    rows = session.exec(
        orm_select(TokenPackage).order_by(
            col(TokenPackage.provider), col(TokenPackage.purchased_at), col(TokenPackage.id)
        )
    ).all()
    return [
        PackageBalance(
            row,
            package_status(row, now),
            units_to_money(
                package_cost_units(row.price, row.tokens_total - row.tokens_left, row.tokens_total)
            ),
        )
        for row in rows
    ]


def _package_alerts(package: TokenPackage, status: str, now: datetime) -> list[Alert]:
    p, found = package, []
    if status == "void":
        found.append(
            Alert(
                AlertKind.VOID,
                p.provider,
                p.id,
                f"{p.id} was not redeemed by {shown(p.redeem_by)}: it is void",
                p.redeem_by,
            )
        )
    elif status == "unredeemed" and p.redeem_by - now <= REDEEM_WARNING:
        found.append(
            Alert(
                AlertKind.REDEEM_DUE,
                p.provider,
                p.id,
                f"{p.id} must be redeemed by {shown(p.redeem_by)}",
                p.redeem_by,
            )
        )
    elif status in {"active", "redeemed"} and p.expires_at is not None:
        if p.expires_at - now <= EXPIRY_WARNING:
            found.append(
                Alert(
                    AlertKind.EXPIRING,
                    p.provider,
                    p.id,
                    f"{p.id}: {p.tokens_left:,} tokens expire at {shown(p.expires_at)}",
                    p.expires_at,
                )
            )
        if p.tokens_left < LOW_SHARE * p.tokens_total:
            found.append(
                Alert(
                    AlertKind.LOW,
                    p.provider,
                    p.id,
                    f"{p.id}: only {p.tokens_left:,} of {p.tokens_total:,} tokens left",
                )
            )
    return found


def alerts(session: Session, now: datetime) -> list[Alert]:
    """Packages running low, expiring, due for or past redemption; this month's (ledger zone)
    pay-as-you-go use of providers that have packages, and of models with no price."""
    found: list[Alert] = []
    with_packages: set[str] = set()
    for balance in package_balances(session, now):
        with_packages.add(balance.package.provider)
        found += _package_alerts(balance.package, balance.status, now)
    start, end = month_bounds(month_of(now, LEDGER_ZONE), LEDGER_ZONE)
    conn = session.connection()
    rows = conn.execute(
        select(C.provider, C.model, D.priced, func.sum(D.tokens))
        .select_from(_draws)
        .join(_calls, C.id == D.call_id)
        .where(D.package_id.is_(None), D.tokens > 0, C.created_at >= start, C.created_at < end)
        .group_by(C.provider, C.model, D.priced)
        .order_by(C.provider, C.model)
    ).all()
    paid: Counter[str] = Counter()
    for provider, model, priced, tokens in rows:
        paid[provider] += int(tokens)
        if not priced:
            found.append(
                Alert(
                    AlertKind.UNPRICED,
                    provider,
                    None,
                    f"{provider} {model}: {int(tokens):,} pay-as-you-go tokens this month had"
                    " no price in force and were costed at 0: set one with `kefu tokens price`",
                )
            )
    for provider, tokens in sorted(paid.items()):
        if provider in with_packages:
            found.append(
                Alert(
                    AlertKind.PAY_AS_YOU_GO,
                    provider,
                    None,
                    f"{provider}: packages ran out, {tokens:,} tokens paid as you go this month",
                )
            )
    return found


# ---------------------------------------------------------------- the month


def _costs(
    session: Session, licensee_id: str, start: datetime, end: datetime
) -> tuple[list[Cost], int]:
    """Costs per currency, added in whole units of 1e-10; and the unpriced tokens."""
    units: defaultdict[tuple[str, bool], int] = defaultdict(int)
    unpriced = 0
    for currency, package_id, tokens, cost, priced in session.connection().execute(
        select(C.currency, D.package_id, D.tokens, D.cost, D.priced)
        .select_from(_draws)
        .join(_calls, C.id == D.call_id)
        .where(C.licensee_id == licensee_id, C.created_at >= start, C.created_at < end)
    ):
        units[currency, package_id is not None] += money_to_units(cost)
        unpriced += 0 if priced else int(tokens)
    costs = [
        Cost(c, units_to_money(units[c, True]), units_to_money(units[c, False]))
        for c in sorted({currency for currency, _ in units})
    ]
    return costs, unpriced


def _revenue(session: Session, licensee: Licensee, days: Counter[date]) -> tuple[list[Money], int]:
    """Each unit at the price in force on its start date (``core.billing.prices``)."""
    ordered = prices.schedules(session, licensee.id)
    amounts: defaultdict[str, Decimal] = defaultdict(Decimal)
    unpriced = 0
    for day, count in days.items():
        schedule = prices.in_force(ordered, day)
        if schedule is None:
            unpriced += count
            continue
        amounts[schedule.currency] += schedule.unit_price * count
    return [Money(c, amounts[c]) for c in sorted(amounts)], unpriced


def licensee_month(
    session: Session, licensee: Licensee, month: str, now: datetime
) -> LicenseeMonth:
    """One licensee's month, its boundaries in the licensee's own zone."""
    start, end = month_bounds(month, licensee.timezone)
    calls, inp, out, cache = (
        session.connection()
        .execute(
            select(
                func.count(),
                func.coalesce(func.sum(C.input_tokens), 0),
                func.coalesce(func.sum(C.output_tokens), 0),
                func.coalesce(func.sum(C.cache_hit_tokens), 0),
            ).where(C.licensee_id == licensee.id, C.created_at >= start, C.created_at < end)
        )
        .one()
    )
    costs, unpriced_tokens = _costs(session, licensee.id, start, end)
    usage = month_usage(session, licensee, month)
    days = Counter(line.started_at.date() for line in usage.lines if line.billable)
    revenue, unpriced = _revenue(session, licensee, days)
    margin = None
    currencies = {c.currency for c in costs} | {r.currency for r in revenue}
    if len(currencies) <= 1:
        currency = currencies.pop() if currencies else "CNY"
        earned = sum((r.amount for r in revenue), Decimal(0))
        margin = Money(currency, earned - sum((c.total for c in costs), Decimal(0)))
    return LicenseeMonth(
        licensee_id=licensee.id,
        name=licensee.name,
        timezone=licensee.timezone,
        complete=now >= end,
        calls=int(calls),
        input_tokens=int(inp),
        output_tokens=int(out),
        cache_hit_tokens=int(cache),
        costs=tuple(costs),
        unpriced_tokens=unpriced_tokens,
        conversations=len(usage.lines),
        units=usage.units,
        revenue=tuple(revenue),
        unpriced_units=unpriced,
        margin=margin,
    )


def monthly_report(session: Session, month: str, now: datetime) -> MonthlyReport:
    """Every licensee with model calls or conversations in ``month`` (each in its own zone),
    and the balance of every package at ``now``."""
    month_bounds(month, LEDGER_ZONE)  # refuse a malformed month before any work
    lines = []
    for licensee in session.exec(orm_select(Licensee).order_by(col(Licensee.name))).all():
        line = licensee_month(session, licensee, month, now)
        if line.calls or line.conversations:
            lines.append(line)
    return MonthlyReport(month, lines, package_balances(session, now))


def totals(lines: Sequence[LicenseeMonth]) -> list[CurrencyTotal]:
    """Cost, revenue and margin per currency, summed exactly over the licensees' months."""
    cost: defaultdict[str, Decimal] = defaultdict(Decimal)
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        for c in line.costs:
            cost[c.currency] += c.total
        for r in line.revenue:
            revenue[r.currency] += r.amount
    # A margin per currency means something only when no licensee mixes currencies.
    with_margin = all(line.margin is not None for line in lines)
    return [
        CurrencyTotal(
            currency,
            cost[currency],
            revenue[currency],
            revenue[currency] - cost[currency] if with_margin else None,
        )
        for currency in sorted(set(cost) | set(revenue))
    ]
