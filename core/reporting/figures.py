"""What a reports page shows for a date range, read from the daily figures: one licensee's
(its own dates) or every licensee's added together, with each licensee's cost and margin.

Everything here reads the pre-aggregated tables of ``core.reporting.daily`` (a few hundred rows
for a month, however many conversations it had), prices from ``core.billing.prices`` and
availability from the outages (``core.licensing.outages``' arithmetic, over the range).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session

from core.db.tables import (
    DailyAgent,
    DailyCost,
    DailyFigures,
    DailyLatency,
    Handoff,
    Licensee,
    Outage,
    OutageLicensee,
    PriceSchedule,
    User,
    table_of,
)
from core.errors import InvalidInput
from core.ledger.money import units_to_money
from core.licensing.outages import clip, percent, union_length
from core.licensing.service_period import lapse_day, start_of_day
from core.reporting.daily import COUNTS, changed_at
from core.reporting.latency import percentile

_f, _lat, _cost = table_of(DailyFigures), table_of(DailyLatency), table_of(DailyCost)
_lic, _price = table_of(Licensee), table_of(PriceSchedule)
_agents, _handoffs, _users = table_of(DailyAgent), table_of(Handoff), table_of(User)
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class DayLine:
    day: date
    conversations: int
    billable_units: int
    replies: int
    answered: int
    dont_know: int
    handoffs: int
    ratings: tuple[int, int, int, int, int]  # how many of each score 1..5
    p50_ms: int | None
    p95_ms: int | None
    cost: Decimal  # model cost in the report's currency
    handoffs_taken: int = 0  # requests for a person an agent took
    wait_ms: int = 0  # their waits, added up
    first_responses: int = 0  # of them, those the agent wrote in
    first_response_ms: int = 0  # accepted -> the agent's first message, added up

    @property
    def rated(self) -> int:
        return sum(self.ratings)

    @property
    def handoff_rate(self) -> Decimal | None:
        """Percent of the day's conversations whose end user asked for a person."""
        return _percent(self.handoffs, self.conversations)

    @property
    def mean_wait_seconds(self) -> Decimal | None:
        return _seconds(self.wait_ms, self.handoffs_taken)

    @property
    def mean_first_response_seconds(self) -> Decimal | None:
        return _seconds(self.first_response_ms, self.first_responses)


def _percent(part: int, whole: int) -> Decimal | None:
    return (Decimal(100 * part) / whole).quantize(Decimal("0.1")) if whole else None


def _seconds(total_ms: int, count: int) -> Decimal | None:
    return (Decimal(total_ms) / 1000 / count).quantize(Decimal("0.1")) if count else None


@dataclass(frozen=True, slots=True)
class AgentLine:
    """One agent's conversations taken in the range (by the day each conversation started)."""

    agent_id: str
    name: str
    conversations: int


@dataclass(frozen=True, slots=True)
class LicenseeLine:
    """One licensee's range: units, revenue at its prices, model cost, margin."""

    licensee_id: str
    name: str
    conversations: int
    units: int
    revenue: Decimal
    unpriced_units: int  # units before any unit price was in force
    cost: dict[str, Decimal]  # per currency
    calls: int
    availability: Decimal | None  # percent; None when not in service in the range (or not asked)
    timezone: str = "Asia/Shanghai"
    service_start: date = date.min
    service_end: date = date.max

    @property
    def margin(self) -> Decimal | None:
        """Revenue - cost, when the costs are all in the revenue's currency (CNY)."""
        if set(self.cost) - {CURRENCY}:
            return None
        return self.revenue - self.cost.get(CURRENCY, Decimal(0))


CURRENCY = "CNY"


@dataclass(frozen=True, slots=True)
class Report:
    first: date
    last: date
    days: list[DayLine]
    licensees: list[LicenseeLine]
    latency: Counter[int] = field(default_factory=Counter)
    agents: list[AgentLine] = field(default_factory=list)  # most conversations first

    def total(self, name: str) -> int:
        return sum(int(getattr(d, name)) for d in self.days)

    @property
    def handoff_rate(self) -> Decimal | None:
        return _percent(self.total("handoffs"), self.total("conversations"))

    @property
    def mean_wait_seconds(self) -> Decimal | None:
        return _seconds(self.total("wait_ms"), self.total("handoffs_taken"))

    @property
    def mean_first_response_seconds(self) -> Decimal | None:
        return _seconds(self.total("first_response_ms"), self.total("first_responses"))

    @property
    def ratings(self) -> tuple[int, ...]:
        return tuple(sum(d.ratings[i] for d in self.days) for i in range(5))

    @property
    def average_rating(self) -> Decimal | None:
        counts = self.ratings
        n = sum(counts)
        if not n:
            return None
        return (Decimal(sum((i + 1) * c for i, c in enumerate(counts))) / n).quantize(
            Decimal("0.01")
        )

    @property
    def p50_ms(self) -> int | None:
        return percentile(self.latency, 0.5)

    @property
    def p95_ms(self) -> int | None:
        return percentile(self.latency, 0.95)

    @property
    def cost(self) -> dict[str, Decimal]:
        out: defaultdict[str, Decimal] = defaultdict(Decimal)
        for line in self.licensees:
            for cur, amount in line.cost.items():
                out[cur] += amount
        return dict(sorted(out.items()))

    @property
    def revenue(self) -> Decimal:
        return sum((line.revenue for line in self.licensees), Decimal(0))


_cache: dict[tuple[object, ...], Report] = {}
_cache_lock = threading.Lock()
CACHED_REPORTS = 64


def cached_report(
    session: Session, first: date, last: date, now: datetime, licensee_id: str | None = None
) -> Report:
    """``report`` without availability, kept until the figures next change (every refresh or
    rebuild marks the change; one indexed read tells). The figures change once a minute at
    most, while the licensor's month over every licensee costs tens of milliseconds to add up:
    docs/benchmarks.md has the A/B."""
    check_range(first, last)
    key = (str(session.get_bind().engine.url), changed_at(session), first, last, licensee_id)
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        found = report(session, first, last, now, licensee_id, availability=False)
        with _cache_lock:
            if len(_cache) >= CACHED_REPORTS:
                _cache.clear()
            _cache[key] = found
    return found


def check_range(first: date, last: date) -> None:
    if first > last:
        raise InvalidInput(
            f"the range starts {first}, after its end {last}",
            code="range.reversed",
            first=first,
            last=last,
        )
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(
            f"a report covers at most {MAX_DAYS} days", code="range.too_long", limit=MAX_DAYS
        )


def report(
    session: Session,
    first: date,
    last: date,
    now: datetime,
    licensee_id: str | None = None,
    *,
    availability: bool = True,
) -> Report:
    """The figures of days ``first``..``last`` (each licensee's own dates), of one licensee or
    all of them added up; each licensee's availability unless ``availability`` is False (a page
    that shows a hundred lines asks ``with_availability`` for those only)."""
    check_range(first, last)
    mine = [] if licensee_id is None else [_f.c.licensee_id == licensee_id]
    in_range = [_f.c.day >= first, _f.c.day <= last, *mine]
    per_day = {
        row.day: row
        for row in session.execute(
            select(_f.c.day, *(func.sum(_f.c[n]).label(n) for n in COUNTS))
            .where(*in_range)
            .group_by(_f.c.day)
        )
    }
    lat_mine = [] if licensee_id is None else [_lat.c.licensee_id == licensee_id]
    day_latency: defaultdict[date, Counter[int]] = defaultdict(Counter)
    for day, bucket, n in session.execute(
        select(_lat.c.day, _lat.c.bucket, func.sum(_lat.c.replies))
        .where(_lat.c.day >= first, _lat.c.day <= last, *lat_mine)
        .group_by(_lat.c.day, _lat.c.bucket)
    ):
        day_latency[day][bucket] += int(n)
    cost_mine = [] if licensee_id is None else [_cost.c.licensee_id == licensee_id]
    cost_range = [_cost.c.day >= first, _cost.c.day <= last, *cost_mine]
    day_cost: Counter[date] = Counter(
        {
            day: int(units)
            for day, units in session.execute(
                select(_cost.c.day, func.sum(_cost.c.cost_units))
                .where(*cost_range, _cost.c.currency == CURRENCY)
                .group_by(_cost.c.day)
            )
        }
    )
    lic_cost: defaultdict[str, Counter[str]] = defaultdict(Counter)
    lic_calls: Counter[str] = Counter()
    for lic, cur, calls, units in session.execute(
        select(
            _cost.c.licensee_id,
            _cost.c.currency,
            func.sum(_cost.c.calls),
            func.sum(_cost.c.cost_units),
        )
        .where(*cost_range)
        .group_by(_cost.c.licensee_id, _cost.c.currency)
    ):
        lic_cost[lic][cur] += int(units)
        lic_calls[lic] += int(calls)
    days = []
    latency: Counter[int] = Counter()
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        row = per_day.get(day)
        counts = [int(getattr(row, n) or 0) if row is not None else 0 for n in COUNTS]
        hist = day_latency.get(day, Counter())
        latency.update(hist)
        days.append(
            DayLine(
                day,
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4],
                counts[5],
                ratings=(counts[6], counts[7], counts[8], counts[9], counts[10]),
                p50_ms=percentile(hist, 0.5),
                p95_ms=percentile(hist, 0.95),
                cost=units_to_money(day_cost[day]),
                handoffs_taken=counts[11],
                wait_ms=counts[12],
                first_responses=counts[13],
                first_response_ms=counts[14],
            )
        )
    lines = _licensee_lines(session, first, last, licensee_id, lic_cost, lic_calls)
    if availability:
        lines = with_availability(session, lines, first, last, now)
    agents = _agent_lines(session, first, last, licensee_id)
    return Report(first, last, days, lines, latency, agents)


def _agent_lines(
    session: Session, first: date, last: date, licensee_id: str | None
) -> list[AgentLine]:
    mine = [] if licensee_id is None else [_agents.c.licensee_id == licensee_id]
    taken = {
        agent: int(n)
        for agent, n in session.execute(
            select(_agents.c.agent_id, func.sum(_agents.c.conversations))
            .where(_agents.c.day >= first, _agents.c.day <= last, *mine)
            .group_by(_agents.c.agent_id)
        )
    }
    if not taken:
        return []
    names: dict[str, str] = {}
    for agent, name in session.execute(  # a removed user: the name the requests kept
        select(_handoffs.c.agent_id, _handoffs.c.agent_name).where(
            _handoffs.c.agent_id.in_(list(taken)), _handoffs.c.agent_name.is_not(None)
        )
    ):
        names[agent] = name
    for user_id, name, email in session.execute(
        select(_users.c.id, _users.c.name, _users.c.email).where(_users.c.id.in_(list(taken)))
    ):
        names[user_id] = name or email
    lines = [AgentLine(a, names.get(a, a), n) for a, n in taken.items()]
    return sorted(lines, key=lambda ln: (-ln.conversations, ln.name, ln.agent_id))


def _licensee_lines(
    session: Session,
    first: date,
    last: date,
    licensee_id: str | None,
    lic_cost: dict[str, Counter[str]],
    lic_calls: Counter[str],
) -> list[LicenseeLine]:
    lic_query = select(
        _lic.c.id, _lic.c.name, _lic.c.timezone, _lic.c.service_start, _lic.c.service_end
    ).order_by(_lic.c.name, _lic.c.id)
    if licensee_id is not None:
        lic_query = lic_query.where(_lic.c.id == licensee_id)
    licensees = session.execute(lic_query).all()
    mine = [] if licensee_id is None else [_f.c.licensee_id == licensee_id]
    # Units per licensee and unit price in force, added up by the database: each schedule
    # holds from its date until the next one's (core.billing.prices.in_force).
    ordered = select(
        _price.c.licensee_id,
        _price.c.effective_from,
        func.lead(_price.c.effective_from)
        .over(partition_by=_price.c.licensee_id, order_by=_price.c.effective_from)
        .label("until"),
    )
    if licensee_id is not None:
        ordered = ordered.where(_price.c.licensee_id == licensee_id)
    p = ordered.subquery()
    in_force = and_(
        p.c.licensee_id == _f.c.licensee_id,
        p.c.effective_from <= _f.c.day,
        or_(p.c.until.is_(None), p.c.until > _f.c.day),
    )
    per_price: defaultdict[str, list[tuple[date | None, int]]] = defaultdict(list)
    conversations: Counter[str] = Counter()
    for lic, since, n_units, n_conv in session.execute(
        select(
            _f.c.licensee_id,
            p.c.effective_from,
            func.sum(_f.c.billable_units),
            func.sum(_f.c.conversations),
        )
        .select_from(_f.outerjoin(p, in_force))
        .where(_f.c.day >= first, _f.c.day <= last, *mine)
        .group_by(_f.c.licensee_id, p.c.effective_from)
    ):
        per_price[lic].append((since, int(n_units)))
        conversations[lic] += int(n_conv)
    price_query = select(_price.c.licensee_id, _price.c.effective_from, _price.c.unit_price)
    if licensee_id is not None:
        price_query = price_query.where(_price.c.licensee_id == licensee_id)
    price_of = {(lic, since): price for lic, since, price in session.execute(price_query)}
    lines = []
    for lic in licensees:
        revenue, unpriced = Decimal(0), 0
        for since, n in per_price.get(lic.id, []):
            if since is None:
                unpriced += n
            else:
                revenue += price_of[lic.id, since] * n
        lines.append(
            LicenseeLine(
                licensee_id=lic.id,
                name=lic.name,
                conversations=conversations[lic.id],
                units=sum(n for _since, n in per_price.get(lic.id, [])),
                revenue=revenue,
                unpriced_units=unpriced,
                cost={c: units_to_money(u) for c, u in sorted(lic_cost.get(lic.id, {}).items())},
                calls=lic_calls[lic.id],
                availability=None,
                timezone=lic.timezone,
                service_start=lic.service_start,
                service_end=lic.service_end,
            )
        )
    return lines


def with_availability(
    session: Session, lines: list[LicenseeLine], first: date, last: date, now: datetime
) -> list[LicenseeLine]:
    """``lines`` with each licensee's availability over the range."""
    ids = [ln.licensee_id for ln in lines]
    outages = _outages(session, ids[0] if len(ids) == 1 else None)
    return [
        replace(
            ln, availability=_availability(ln, first, last, now, outages.get(ln.licensee_id, []))
        )
        for ln in lines
    ]


def _outages(
    session: Session, licensee_id: str | None
) -> dict[str, list[tuple[datetime, datetime]]]:
    o, link = table_of(Outage), table_of(OutageLicensee)
    query = select(link.c.licensee_id, o.c.starts_at, o.c.ends_at).join(
        o, o.c.id == link.c.outage_id
    )
    if licensee_id is not None:
        query = query.where(link.c.licensee_id == licensee_id)
    found: defaultdict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for lic, starts, ends in session.execute(query):
        found[lic].append((starts, ends))
    return found


def _availability(
    lic: LicenseeLine,
    first: date,
    last: date,
    now: datetime,
    outages: list[tuple[datetime, datetime]],
) -> Decimal | None:
    """The share of the range the licence was in service with no outage (as ``kefu
    availability`` counts a month: from its start date to its lapse day, up to now)."""
    tz = lic.timezone
    lo = max(start_of_day(first, tz), start_of_day(lic.service_start, tz))
    hi = min(
        start_of_day(last + timedelta(days=1), tz),
        now,
        start_of_day(lapse_day(lic.service_end), tz),
    )
    if hi <= lo:
        return None
    served = hi - lo
    down = union_length(clip(outages, lo, hi))
    return percent(served - down, served)
