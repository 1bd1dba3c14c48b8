"""The daily figures of the reports, derived from the rows and kept exact.

One row per licensee and day (the licensee's zone) in ``daily_figures``, its latency histogram in
``daily_latency``, its model costs in ``daily_costs`` and the conversations each agent took in
``daily_agents``. A conversation, its replies, its rating and its requests for a person count on
the day the conversation started; a model call on the day it was made.

Two ways to the same numbers (a property test holds them equal):

- ``rebuild`` recomputes whole days of one licensee (or all) from the rows;
- ``refresh``, the leader's periodic job, recomputes only the days that can have changed since
  its last run. A conversation lasts at most 24 hours (``core.chat.conversations.MAX_LENGTH``)
  and its replies are stored as they are made, so rows written since the last run can only fall
  on days from ``LATE`` before it; a rating can come later, for the visitor's last conversation
  however old, so the days of conversations rated since the last run are recomputed as well.
  Model calls are stored when they are made. ``MARGIN`` covers a write whose ``now`` was taken
  before the last run but which committed after it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import and_, delete, func, insert, select
from sqlmodel import Session

from core.chat.dont_know import dont_know
from core.db.tables import (
    Conversation,
    DailyAgent,
    DailyCost,
    DailyFigures,
    DailyLatency,
    Handoff,
    Licensee,
    Message,
    ModelCall,
    Rating,
    ReportingMark,
    table_of,
)
from core.errors import InvalidInput
from core.ledger.money import money_to_units
from core.licensing.service_period import local_date, start_of_day, zone
from core.reporting.latency import bucket_of

_conv, _msg, _rating = table_of(Conversation), table_of(Message), table_of(Rating)
_calls, _lic = table_of(ModelCall), table_of(Licensee)
_figures, _latency, _costs = table_of(DailyFigures), table_of(DailyLatency), table_of(DailyCost)
_marks = table_of(ReportingMark)
_handoffs, _agents = table_of(Handoff), table_of(DailyAgent)
C, M, R, K = _conv.c, _msg.c, _rating.c, _calls.c

MAX_CONVERSATION = timedelta(hours=24)
MARGIN = timedelta(minutes=10)
LATE = MAX_CONVERSATION + MARGIN
MARK = "daily_figures"  # the last refresh: where the next one starts
CHANGED = "daily_figures_changed"  # the last refresh or rebuild: what a cached report is of
COUNTS = (
    "conversations",
    "billable_units",
    "replies",
    "answered",
    "dont_know",
    "handoffs",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "handoffs_taken",
    "wait_ms",
    "first_responses",
    "first_response_ms",
)


@dataclass
class Day:
    """One licensee's figures of one day, as computed from the rows."""

    counts: Counter[str] = field(default_factory=Counter)
    latency: Counter[int] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)  # per currency
    cost_units: Counter[str] = field(default_factory=Counter)  # per currency, units of 1e-10
    agents: Counter[str] = field(default_factory=Counter)  # conversations each agent took


Key = tuple[str, date]
T = TypeVar("T")


def _zones(session: Session, licensee_id: str | None) -> dict[str, str]:
    query = select(_lic.c.id, _lic.c.timezone)
    if licensee_id is not None:
        query = query.where(_lic.c.id == licensee_id)
    found = {row.id: row.timezone for row in session.execute(query)}
    if licensee_id is not None and not found:
        raise InvalidInput(f"no such licensee: {licensee_id}")
    return found


def _between(column: object, start: datetime | None, end: datetime | None) -> list[object]:
    conditions: list[object] = []
    if start is not None:
        conditions.append(column >= start)  # type: ignore[operator]
    if end is not None:
        conditions.append(column < end)  # type: ignore[operator]
    return conditions


def compute(
    session: Session,
    zones: Mapping[str, str],
    start: datetime | None,
    end: datetime | None,
    licensee_id: str | None = None,
    licensee_ids: Collection[str] | None = None,
) -> dict[Key, Day]:
    """The figures of every conversation started and every call made in [start, end) (open
    where None), of one licensee, several or all, keyed by (licensee, its local day)."""
    days: defaultdict[Key, Day] = defaultdict(Day)
    tzs = {lic: zone(tz) for lic, tz in zones.items()}

    def key(lic: str, at: datetime) -> Key:
        return lic, at.astimezone(tzs[lic]).date()

    ids = list(licensee_ids or []) + ([] if licensee_id is None else [licensee_id])
    mine = [C.licensee_id.in_(ids)] if ids else []
    started = and_(*mine, *_between(C.started_at, start, end))  # type: ignore[arg-type]
    for lic, at, test in session.execute(
        select(C.licensee_id, C.started_at, C.test).where(started)
    ):
        counts = days[key(lic, at)].counts
        counts["conversations"] += 1
        counts["billable_units"] += 0 if test else 1

    # "Don't know" is the one rule of core.chat.dont_know (the unanswered list's too).
    replies = (
        select(C.licensee_id, C.started_at, M.conversation_id, M.role, M.created_at, dont_know(M))
        .select_from(_msg)
        .join(_conv, C.id == M.conversation_id)
        .where(started, M.role.in_(("visitor", "robot")))
        .order_by(M.conversation_id, M.seq)
    )
    current, asked = None, list[datetime]()
    for lic, at, conversation, role, created, not_known in session.execute(replies):
        if conversation != current:
            current, asked = conversation, []
        if role == "visitor":
            asked.append(created)
            continue
        day = days[key(lic, at)]
        day.counts["replies"] += 1
        day.counts["dont_know" if not_known else "answered"] += 1
        if asked:  # the k-th reply answers the k-th question
            waited = created - asked.pop(0)
            day.latency[bucket_of(waited / timedelta(milliseconds=1))] += 1

    rated = select(C.licensee_id, C.started_at, R.score).join(_conv, C.id == R.conversation_id)
    for lic, at, score in session.execute(rated.where(started)):
        if 1 <= score <= 5:
            days[key(lic, at)].counts[f"rating_{score}"] += 1

    # A conversation whose end user asked for a person (queued at least once), on the day it
    # started, as ratings are: a request comes within the conversation's 24 hours.
    for_a_person = select(C.licensee_id, C.started_at).where(
        started, C.id.in_(select(_handoffs.c.conversation_id))
    )
    for lic, at in session.execute(for_a_person):
        days[key(lic, at)].counts["handoffs"] += 1
    # The requests an agent took: each one's wait and first response, in whole milliseconds
    # (hand-off happens within its conversation, so on rows the same days hold).
    H = _handoffs.c
    taken = (
        select(C.licensee_id, C.started_at, H.conversation_id, H.agent_id)
        .add_columns(H.queued_at, H.assigned_at, H.first_response_at)
        .join(_conv, C.id == H.conversation_id)
        .where(started, H.assigned_at.is_not(None))
    )
    agents_of: defaultdict[Key, set[tuple[str, str]]] = defaultdict(set)
    for lic, at, conversation, agent, queued, assigned, first in session.execute(taken):
        day_key = key(lic, at)
        counts = days[day_key].counts
        counts["handoffs_taken"] += 1
        counts["wait_ms"] += _ms(assigned - queued)
        if first is not None:
            counts["first_responses"] += 1
            counts["first_response_ms"] += _ms(first - assigned)
        if agent:
            agents_of[day_key].add((agent, conversation))
    for day_key, pairs in agents_of.items():
        days[day_key].agents.update(agent for agent, _ in pairs)

    calls = select(K.licensee_id, K.created_at, K.currency, K.cost).where(
        *([K.licensee_id.in_(ids)] if ids else []),
        *_between(K.created_at, start, end),  # type: ignore[arg-type]
    )
    for lic, at, currency, cost in session.execute(calls):
        day = days[key(lic, at)]
        day.calls[currency] += 1
        day.cost_units[currency] += money_to_units(cost)
    return dict(days)


def _ms(span: timedelta) -> int:
    """A span in whole milliseconds (never negative: clocks of two servers may disagree)."""
    return max(0, span // timedelta(milliseconds=1))


def _replace(
    session: Session, spans: Mapping[str, tuple[date, date]], found: Mapping[Key, Day]
) -> int:
    """Put ``found`` in place of the stored figures of each licensee's [first, last] days."""
    by_span: defaultdict[tuple[date, date], list[str]] = defaultdict(list)
    for lic, span in spans.items():
        by_span[span].append(lic)
    for (first, last), lics in by_span.items():
        for table in (_figures, _latency, _costs, _agents):
            for chunk in _chunks(lics, 500):
                session.execute(
                    delete(table).where(
                        table.c.licensee_id.in_(chunk), table.c.day >= first, table.c.day <= last
                    )
                )
    figures: list[dict[str, object]] = []
    latency: list[dict[str, object]] = []
    costs: list[dict[str, object]] = []
    agents: list[dict[str, object]] = []
    for (lic, day), got in found.items():
        first, last = spans.get(lic, (date.max, date.min))
        if not first <= day <= last:
            continue
        figures.append({"licensee_id": lic, "day": day, **{n: got.counts[n] for n in COUNTS}})
        latency += [
            {"licensee_id": lic, "day": day, "bucket": b, "replies": n}
            for b, n in got.latency.items()
        ]
        costs += [
            {
                "licensee_id": lic,
                "day": day,
                "currency": cur,
                "calls": got.calls[cur],
                "cost_units": got.cost_units[cur],
            }
            for cur in got.calls
        ]
        agents += [
            {"licensee_id": lic, "day": day, "agent_id": agent, "conversations": n}
            for agent, n in got.agents.items()
        ]
    for table, rows in (
        (_figures, figures),
        (_latency, latency),
        (_costs, costs),
        (_agents, agents),
    ):
        for batch in _chunks(rows, 1000):
            session.execute(insert(table), batch)
    return len(figures)


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    licensees: int
    days: int  # licensee-days with any figure


def _first_day(session: Session, licensee_id: str, tz: str) -> date | None:
    firsts = [
        session.execute(select(func.min(C.started_at)).where(C.licensee_id == licensee_id)),
        session.execute(select(func.min(K.created_at)).where(K.licensee_id == licensee_id)),
    ]
    found = [value for result in firsts if (value := result.scalar()) is not None]
    return local_date(min(found), tz) if found else None


def rebuild(
    session: Session,
    now: datetime,
    licensee_id: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Rebuilt:
    """Recompute the figures of days ``first``..``last`` (each licensee's own dates; default:
    from its first row to today) from the rows, one licensee at a time. The caller commits."""
    if first is not None and last is not None and first > last:
        raise InvalidInput(f"--from {first} is after --to {last}")
    zones = _zones(session, licensee_id)
    days = 0
    for lic, tz in sorted(zones.items()):
        lo = first or _first_day(session, lic, tz)
        hi = last or local_date(now, tz)
        if lo is None or lo > hi:
            continue
        start, end = start_of_day(lo, tz), start_of_day(hi + timedelta(days=1), tz)
        found = compute(session, {lic: tz}, start, end, licensee_id=lic)
        days += _replace(session, {lic: (lo, hi)}, found)
    _changed(session, now)
    return Rebuilt(len(zones), days)


def _mark(session: Session, name: str, at: datetime) -> None:
    session.execute(delete(_marks).where(_marks.c.name == name))
    session.execute(insert(_marks).values(name=name, refreshed_at=at))


def _changed(session: Session, now: datetime) -> None:
    """Mark a change; the mark only moves forward, so two changes never share one."""
    before = changed_at(session)
    later = before + timedelta(microseconds=1) if before is not None else now
    _mark(session, CHANGED, max(now, later))


def changed_at(session: Session) -> datetime | None:
    """When the figures were last refreshed or rebuilt (None: never)."""
    value: datetime | None = session.execute(
        select(_marks.c.refreshed_at).where(_marks.c.name == CHANGED)
    ).scalar_one_or_none()
    return value


def last_refresh(session: Session) -> datetime | None:
    value: datetime | None = session.execute(
        select(_marks.c.refreshed_at).where(_marks.c.name == MARK)
    ).scalar_one_or_none()
    return value


def refresh(session: Session, now: datetime) -> int:
    """Recompute every day that can have changed since the last refresh (all days, the first
    time), and move the mark to ``now``. The caller commits; returns the licensee-days stored."""
    since = last_refresh(session)
    stored = rebuild(session, now).days if since is None else _refresh_since(session, since, now)
    _mark(session, MARK, now)
    _changed(session, now)
    return stored


def _refresh_since(session: Session, since: datetime, now: datetime) -> int:
    zones = _zones(session, None)
    if not zones:
        return 0
    recent = since - LATE
    spans = {lic: (local_date(recent, tz), local_date(now, tz)) for lic, tz in zones.items()}
    start = min(start_of_day(spans[lic][0], tz) for lic, tz in zones.items())
    stored = _replace(session, spans, compute(session, zones, start, None))
    # Ratings of older conversations: recompute those conversations' whole days too.
    rated = session.execute(
        select(C.licensee_id, C.started_at)
        .join(_rating, R.conversation_id == C.id)
        .where(R.created_at >= since - MARGIN)
    ).all()
    older = {(lic, local_date(at, zones[lic])) for lic, at in rated if lic in zones}
    for lic, day in sorted(older):
        if spans[lic][0] <= day <= spans[lic][1]:
            continue  # recomputed above
        tz = zones[lic]
        lo, hi = start_of_day(day, tz), start_of_day(day + timedelta(days=1), tz)
        found = compute(session, {lic: tz}, lo, hi, licensee_id=lic)
        stored += _replace(session, {lic: (day, day)}, found)
    return stored
