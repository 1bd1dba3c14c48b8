"""Daily figures: what they count, on which day, and that the leader's refresh keeps them equal
to a rebuild from the rows, whatever the order of events and refreshes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, update
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from core.db.engine import Database
from core.db.tables import Handoff, table_of
from core.errors import InvalidInput
from core.licensing.licensees import create_licensee
from core.reporting.daily import COUNTS, rebuild, refresh
from core.reporting.latency import BOUNDS_MS, bucket_of, percentile
from testkit.reporting import (
    key_of,
    message,
    model_call,
    rate,
    snapshot,
    start_conversation,
)
from testkit.tenants import MakeTenant

T0 = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
SOURCE = [{"id": "kb_1", "question": "q"}]


def test_figures_count_on_the_local_day_the_conversation_started(
    db: Database, make_tenant: MakeTenant
) -> None:
    shanghai = make_tenant(now=T0).licensee.id
    london = make_tenant(name="London", now=T0, timezone="Europe/London").licensee.id
    with db.session() as s:
        for lic in (shanghai, london):
            key = key_of(s, lic)
            conv = start_conversation(s, lic, key, T0)  # Shanghai 11-02 23:30, London 11-02
            message(s, conv, lic, 1, "visitor", T0)
            # Answered after midnight in Shanghai: still the day the conversation started.
            message(s, conv, lic, 2, "robot", T0 + timedelta(minutes=45), SOURCE)
            message(s, conv, lic, 3, "visitor", T0 + timedelta(minutes=46))
            message(s, conv, lic, 4, "robot", T0 + timedelta(minutes=46, seconds=1), [])
            start_conversation(s, lic, key, T0 + timedelta(hours=1), test=True)
            rate(s, conv, lic, 4, T0 + timedelta(days=3))
            model_call(s, lic, T0 + timedelta(hours=1), Decimal("0.0000000001"))
            model_call(s, lic, T0 + timedelta(hours=1), Decimal("1.5"), "USD")
        built = rebuild(s, T0 + timedelta(days=4))
        s.commit()
        snap = snapshot(s)
    assert built.licensees == 2

    def nov(d: int) -> date:
        return date(2026, 11, d)

    # Shanghai: the conversation on the 2nd, the test one (00:30 local) and the calls on the 3rd.
    none = (0, 0, 0, 0)  # nobody asked for a person
    assert snap.figures[shanghai, nov(2)] == (1, 1, 2, 1, 1, 0, 0, 0, 0, 1, 0, *none)
    assert snap.figures[shanghai, nov(3)] == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, *none)
    assert snap.costs[shanghai, nov(3), "CNY"] == (1, 1)  # units of 1e-10
    assert snap.costs[shanghai, nov(3), "USD"] == (1, 15_000_000_000)
    # London: everything on the 2nd.
    assert snap.figures[london, nov(2)] == (2, 1, 2, 1, 1, 0, 0, 0, 0, 1, 0, *none)
    assert (shanghai, nov(3)) not in {(k[0], k[1]) for k in snap.latency}
    assert snap.latency[shanghai, nov(2), bucket_of(45 * 60_000)] == 1
    assert snap.latency[shanghai, nov(2), bucket_of(1000)] == 1


def test_a_request_for_a_person_counts_once_on_the_day_its_conversation_started(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0).licensee.id
    handoffs = table_of(Handoff)
    with db.session() as s:
        key = key_of(s, lic)
        asked = start_conversation(s, lic, key, T0)  # Shanghai 11-02 23:30
        start_conversation(s, lic, key, T0 + timedelta(minutes=5))  # never asks
        refresh(s, T0 + timedelta(minutes=10))
        # Asked after midnight, then returned by a lost agent and queued again: one request.
        for n, status in enumerate(("released", "queued")):
            s.execute(
                insert(handoffs).values(
                    id=f"ho_{n}",
                    conversation_id=asked,
                    licensee_id=lic,
                    visitor_id="v_1",
                    status=status,
                    requested_at=T0 + timedelta(hours=1 + n),
                    queued_at=T0 + timedelta(hours=1 + n),
                )
            )
        refresh(s, T0 + timedelta(hours=3))
        s.commit()
        refreshed = snapshot(s)
        rebuild(s, T0 + timedelta(hours=3))
        s.commit()
        rebuilt = snapshot(s)
    handoff_column = COUNTS.index("handoffs")
    assert refreshed.figures[lic, date(2026, 11, 2)][handoff_column] == 1
    assert (lic, date(2026, 11, 3)) not in refreshed.figures
    assert rebuilt.figures == refreshed.figures


def test_taken_requests_add_their_waits_first_responses_and_agents_exactly(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0).licensee.id
    handoffs = table_of(Handoff)
    second = timedelta(seconds=1)
    with db.session() as s:
        key = key_of(s, lic)
        convs = [start_conversation(s, lic, key, T0 + n * second) for n in range(4)]
        # (queued after, waited, first response after, agent): one never taken, one taken and
        # silent, two answered by one agent; waits in milliseconds, truncated per request.
        for n, (waited, first, agent) in enumerate(
            [(None, None, None), (timedelta(seconds=30), None, "u_a"),
             (timedelta(seconds=10, microseconds=500_999), 4 * second, "u_b"),
             (timedelta(seconds=20), timedelta(milliseconds=2001), "u_b")]
        ):  # fmt: skip
            queued = T0 + timedelta(minutes=1)
            s.execute(
                insert(handoffs).values(
                    id=f"ho_{n}",
                    conversation_id=convs[n],
                    licensee_id=lic,
                    visitor_id=f"v_{n}",
                    status="assigned" if agent else "queued",
                    requested_at=queued,
                    queued_at=queued,
                    assigned_at=queued + waited if waited else None,
                    agent_id=agent,
                    agent_name=agent,
                    first_response_at=queued + waited + first if waited and first else None,
                )
            )
        refresh(s, T0 + timedelta(hours=1))
        s.commit()
        got = snapshot(s)
    row = dict(zip(COUNTS, got.figures[lic, date(2026, 11, 2)], strict=True))
    assert row["conversations"] == 4 and row["handoffs"] == 4
    assert row["handoffs_taken"] == 3 and row["wait_ms"] == 30_000 + 10_500 + 20_000
    assert row["first_responses"] == 2 and row["first_response_ms"] == 4_000 + 2_001
    assert got.agents == {(lic, date(2026, 11, 2), "u_a"): 1, (lic, date(2026, 11, 2), "u_b"): 2}


def test_rebuild_refuses_a_backwards_range_and_an_unknown_licensee(db: Database) -> None:
    with db.session() as s, pytest.raises(InvalidInput, match="after"):
        rebuild(s, T0, first=date(2026, 2, 1), last=date(2026, 1, 1))
    with db.session() as s, pytest.raises(InvalidInput, match="no such licensee"):
        rebuild(s, T0, licensee_id="lic_nope")


def test_a_late_rating_of_an_old_conversation_reaches_its_day(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0).licensee.id
    with db.session() as s:
        conv = start_conversation(s, lic, key_of(s, lic), T0)
        refresh(s, T0 + timedelta(minutes=1))
        refresh(s, T0 + timedelta(days=9))
        rate(s, conv, lic, 5, T0 + timedelta(days=10))
        refresh(s, T0 + timedelta(days=10, minutes=1))
        s.commit()
        assert snapshot(s).figures[lic, date(2026, 11, 2)][COUNTS.index("rating_5")] == 1


def test_percentiles_read_off_the_histogram() -> None:
    assert percentile({}, 0.5) is None
    hist = {bucket_of(100): 50, bucket_of(1000): 45, bucket_of(20_000): 5}
    assert percentile(hist, 0.5) == BOUNDS_MS[bucket_of(100)]
    assert percentile(hist, 0.95) == BOUNDS_MS[bucket_of(1000)]
    assert percentile(hist, 0.96) == BOUNDS_MS[bucket_of(20_000)]
    assert percentile({bucket_of(10**9): 1}, 0.5) == BOUNDS_MS[-1]
    assert BOUNDS_MS[bucket_of(1000)] >= 1000 > BOUNDS_MS[bucket_of(1000) - 1]


# ----------------------------------------------------------------- incremental == rebuilt


@dataclass(frozen=True)
class Conv:
    licensee: int
    start: int  # minutes after the scenario's start
    test: bool
    # (minutes to the question, seconds to its answer, sourced, knew: core.chat.dont_know's
    # mark, which a model's reply citing entries may still lack); within the 24-hour cap
    turns: tuple[tuple[int, int, bool, bool], ...]
    ratings: tuple[tuple[int, int], ...]  # (minutes after the start, score)
    # A request for a person: (minutes after the start, seconds until an agent takes it or
    # None, seconds from then to the agent's first message or None, which agent); within the
    # conversation's 24 hours.
    handoff: tuple[int, int | None, int | None, int] | None = None


conversations = st.builds(
    Conv,
    licensee=st.integers(0, 2),
    start=st.integers(0, 6 * 24 * 60),
    test=st.booleans(),
    turns=st.lists(
        st.tuples(st.integers(0, 470), st.integers(0, 120), st.booleans(), st.booleans()),
        max_size=3,
    ).map(tuple),
    ratings=st.lists(st.tuples(st.integers(0, 12 * 24 * 60), st.integers(1, 5)), max_size=2).map(
        tuple
    ),
    handoff=st.none()
    | st.tuples(
        st.integers(0, 20 * 60),
        st.none() | st.integers(0, 2 * 3600),
        st.none() | st.integers(0, 3600),
        st.integers(0, 2),
    ),
)
calls = st.tuples(st.integers(0, 2), st.integers(0, 8 * 24 * 60), st.integers(0, 10**6))
ZONES = ("Asia/Shanghai", "America/New_York", "Asia/Kathmandu")


@pytest.fixture(scope="module")
def memory() -> Iterator[Session]:
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    convs=st.lists(conversations, max_size=8),
    model_calls=st.lists(calls, max_size=6),
    refreshes=st.lists(st.integers(0, 8 * 24 * 60), min_size=1, max_size=12),
    base=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
    ),
)
def test_refreshing_as_events_happen_equals_rebuilding(
    memory: Session,
    convs: list[Conv],
    model_calls: list[tuple[int, int, int]],
    refreshes: list[int],
    base: datetime,
) -> None:
    s = memory
    s.rollback()
    for table in reversed(SQLModel.metadata.sorted_tables):
        s.execute(table.delete())
    lics: list[tuple[str, str]] = []
    for i, tz in enumerate(ZONES):
        row, _keys = create_licensee(s, name=f"L{i}", origins=[], now=base, timezone=tz)
        lics.append((row.id, key_of(s, row.id)))
    minute = timedelta(minutes=1)
    events: list[tuple[datetime, int, str, Any]] = []
    for n, c in enumerate(convs):
        events.append((base + c.start * minute, n, "conv", c))
        when, seq = base + c.start * minute, 0
        for q, a, sourced, knew in c.turns:
            # Each message is written when it is said: a refresh sees only what came before.
            when += q * minute
            events.append((when, n, "msg", (seq := seq + 1, "visitor", when, None)))
            answered = when + a * timedelta(seconds=1)
            reply = (seq := seq + 1, "robot", answered, (sourced, knew))
            events.append((answered, n, "msg", reply))
        if c.handoff is not None:
            # Each step of the request is written when it happens, as the hand-off code does.
            asked, waited, answered_in, agent = c.handoff
            at = base + (c.start + asked) * minute
            events.append((at, n, "ask", None))
            if waited is not None:
                taken = at + waited * timedelta(seconds=1)
                events.append((taken, n, "take", (taken, f"u_agent_{agent}")))
                if answered_in is not None:
                    first = taken + answered_in * timedelta(seconds=1)
                    events.append((first, n, "first", first))
        for after, score in c.ratings:
            # A rating is for an ended conversation, so it comes after its last message.
            events.append((when + timedelta(minutes=11 + after), n, "rate", score))
    for which, offset, cost in model_calls:
        events.append((base + offset * minute, -1, "call", (which, Decimal(cost).scaleb(-6))))
    for offset in refreshes:
        events.append((base + offset * minute + timedelta(seconds=30), -2, "refresh", None))
    steps = {"conv": 0, "ask": 1, "take": 2, "first": 3}
    events.sort(key=lambda e: (e[0], e[1], steps.get(e[2], 4)))
    made: dict[int, tuple[str, str]] = {}
    for at, n, kind, what in events:
        if kind == "conv":
            assert isinstance(what, Conv)
            lic, key = lics[what.licensee]
            made[n] = (start_conversation(s, lic, key, at, test=what.test), lic)
        elif kind == "msg":
            conv, lic = made[n]
            seq, role, when, marks = what
            sourced, knew = marks if marks is not None else (False, False)  # a visitor
            message(s, conv, lic, seq, role, when, SOURCE if sourced else [], knew)
        elif kind == "ask":
            conv, lic = made[n]
            s.execute(
                insert(table_of(Handoff)).values(
                    id=f"ho_{n}",
                    conversation_id=conv,
                    licensee_id=lic,
                    visitor_id="v_1",
                    status="queued",
                    requested_at=at,
                    queued_at=at,
                )
            )
        elif kind == "take":
            when, agent = what
            s.execute(
                update(table_of(Handoff))
                .where(table_of(Handoff).c.id == f"ho_{n}")
                .values(status="assigned", assigned_at=when, agent_id=agent, agent_name=agent)
            )
        elif kind == "first":
            s.execute(
                update(table_of(Handoff))
                .where(table_of(Handoff).c.id == f"ho_{n}")
                .values(first_response_at=what)
            )
        elif kind == "rate":
            conv, lic = made[n]
            rate(s, conv, lic, int(what), at)
        elif kind == "call":
            i, cost = what
            model_call(s, lics[i][0], at, cost)
        else:
            refresh(s, at)
    end = base + timedelta(days=15)
    refresh(s, end)
    incremental = snapshot(s)
    rebuild(s, end)
    assert snapshot(s) == incremental
