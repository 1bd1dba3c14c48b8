"""Conversations as usage units (PRODUCT.md "One conversation = one unit"), on both databases.

Every change goes through ``db.writer.run`` exactly as the chat server does, so a result is
only looked at once it is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.conversations import Recorded, Speaker, UnitPolicy, due_end
from core.chat.frames import EndReason, Role
from core.db.engine import Database
from core.db.tables import Conversation, KeyKind, Message, Rating
from core.reporting.usage import month_usage
from testkit.tenants import key_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
DEFAULT = UnitPolicy()

conversations_t = Conversation.__table__  # type: ignore[attr-defined]
messages_t = Message.__table__  # type: ignore[attr-defined]
ratings_t = Rating.__table__  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ helpers


class ReplyFields(TypedDict):
    """The ``record_reply`` keyword arguments that stay the same across replies."""

    conversation_id: str
    licensee_id: str
    visitor_id: str
    ai: dict[str, Any]
    sources: list[dict[str, Any]]


def speaker(
    db: Database,
    licensee_id: str,
    visitor: str = "vis_1",
    *,
    test: bool = False,
    policy: UnitPolicy = DEFAULT,
) -> Speaker:
    kind = KeyKind.TEST if test else KeyKind.LIVE
    return Speaker(
        licensee_id=licensee_id,
        visitor_id=visitor,
        key_id=key_id(db, licensee_id, kind),
        test=test,
        beyond_term=False,
        policy=policy,
    )


def say(db: Database, who: Speaker, client_id: str, at: datetime, text: str = "hi") -> Recorded:
    return db.writer.run(lambda conn: units.record_visitor_message(conn, who, client_id, text, at))


def conv_rows(db: Database, licensee_id: str) -> Sequence[Any]:
    c = conversations_t.c
    return db.read(
        lambda conn: conn.execute(
            select(
                c.id,
                c.visitor_id,
                c.test,
                c.started_at,
                c.last_activity_at,
                c.ended_at,
                c.end_reason,
            )
            .where(c.licensee_id == licensee_id)
            .order_by(c.started_at, c.id)
        ).all()
    )


def conv_row(db: Database, conversation_id: str) -> Any:
    c = conversations_t.c
    return db.read(
        lambda conn: conn.execute(
            select(c.id, c.test, c.started_at, c.last_activity_at, c.ended_at, c.end_reason).where(
                c.id == conversation_id
            )
        ).one()
    )


def message_count(db: Database, **where: str) -> int:
    m = messages_t.c
    clauses = [getattr(m, name) == value for name, value in where.items()]
    return int(
        db.read(lambda conn: conn.execute(select(func.count()).where(*clauses)).scalar_one())
    )


@pytest.fixture
def lic(make_tenant: Callable[..., Any]) -> str:
    return str(make_tenant("Shop A").licensee.id)


# ------------------------------------------------------------------------------ rule 1


def test_first_message_starts_a_unit_and_a_second_continues_it(db: Database, lic: str) -> None:
    who = speaker(db, lic)
    # Opening the widget (hello) only looks for an open unit: that starts nothing.
    for _ in range(3):
        found = db.writer.run(lambda conn: units.open_conversation(conn, lic, "vis_1", DEFAULT, T0))
        assert found is None
    assert conv_rows(db, lic) == []

    first = say(db, who, "c1", T0)
    second = say(db, who, "c2", T0 + 2 * MIN)

    assert first.started is True and first.duplicate is False and first.ended is None
    assert second.started is False and second.duplicate is False and second.ended is None
    assert second.conversation.id == first.conversation.id
    assert first.conversation.started_at == T0
    rows = conv_rows(db, lic)
    assert len(rows) == 1
    assert rows[0].ended_at is None
    assert rows[0].last_activity_at == T0 + 2 * MIN
    assert message_count(db, conversation_id=first.conversation.id) == 2


def test_due_end_idle_fires_exactly_at_the_boundary() -> None:
    last = T0 + 10 * MIN
    boundary = last + DEFAULT.idle
    assert due_end(T0, last, DEFAULT, boundary - timedelta(microseconds=1)) is None
    assert due_end(T0, last, DEFAULT, boundary) == (EndReason.IDLE, boundary)
    # Noticed three hours late: still ends at the boundary.
    assert due_end(T0, last, DEFAULT, boundary + timedelta(hours=3)) == (EndReason.IDLE, boundary)


def test_due_end_24_hour_cap_wins_when_earlier() -> None:
    last = T0 + timedelta(hours=23, minutes=50)  # idle would end at 24:20
    cap = T0 + timedelta(hours=24)
    assert due_end(T0, last, DEFAULT, cap - timedelta(microseconds=1)) is None
    assert due_end(T0, last, DEFAULT, cap) == (EndReason.MAX_LENGTH, cap)
    assert due_end(T0, last, DEFAULT, cap + timedelta(hours=5)) == (EndReason.MAX_LENGTH, cap)


def test_due_end_custom_idle_of_5_minutes() -> None:
    policy = UnitPolicy(idle=timedelta(minutes=5))
    assert due_end(T0, T0, policy, T0 + timedelta(minutes=4, seconds=59)) is None
    assert due_end(T0, T0, policy, T0 + 5 * MIN) == (EndReason.IDLE, T0 + 5 * MIN)
    # The default would still be open here.
    assert due_end(T0, T0, DEFAULT, T0 + 5 * MIN) is None


def test_due_end_custom_idle_of_24_hours() -> None:
    policy = UnitPolicy(idle=timedelta(hours=24))
    last = T0 + MIN
    # Silent for 23 hours: open under a 24-hour idle time (the default would have ended it).
    assert due_end(T0, last, policy, T0 + timedelta(hours=23)) is None
    assert due_end(T0, last, DEFAULT, T0 + timedelta(hours=23)) is not None
    # But the 24-hour maximum length still ends it.
    cap = T0 + timedelta(hours=24)
    assert due_end(T0, last, policy, cap) == (EndReason.MAX_LENGTH, cap)


# ------------------------------------------------------------------------------ rule 2


def test_idle_end_time_is_last_activity_plus_idle_not_the_sweep_time(
    db: Database, lic: str
) -> None:
    who = speaker(db, lic)
    rec = say(db, who, "c1", T0)
    say(db, who, "c2", T0 + 10 * MIN)

    late = T0 + timedelta(hours=3)
    endings = db.writer.run(lambda conn: units.sweep(conn, late))

    assert [(e.conversation.id, e.reason, e.ended_at) for e in endings] == [
        (rec.conversation.id, EndReason.IDLE, T0 + 40 * MIN)
    ]
    row = conv_row(db, rec.conversation.id)
    assert row.ended_at == T0 + 40 * MIN
    assert row.end_reason == "idle"


def test_sweep_ends_lapsed_units_and_leaves_fresh_ones(db: Database, lic: str) -> None:
    now = T0 + timedelta(hours=24, seconds=1)
    idle = say(db, speaker(db, lic, "vis_idle"), "i1", T0 + timedelta(hours=20))
    fresh = say(db, speaker(db, lic, "vis_fresh"), "f1", now - MIN)

    # A busy visitor who talks every 20 minutes from T0 on: only the 24-hour cap ends it.
    busy_who = speaker(db, lic, "vis_busy")

    def chatter(conn: Session) -> Recorded:
        first = units.record_visitor_message(conn, busy_who, "b0", "hi", T0)
        for n in range(1, 72):
            units.record_visitor_message(conn, busy_who, f"b{n}", "more", T0 + n * 20 * MIN)
        return first

    busy = db.writer.run(chatter)
    assert conv_row(db, busy.conversation.id).last_activity_at == T0 + timedelta(
        hours=23, minutes=40
    )

    endings = db.writer.run(lambda conn: units.sweep(conn, now))

    got = {e.conversation.id: (e.reason, e.ended_at) for e in endings}
    assert got == {
        idle.conversation.id: (EndReason.IDLE, T0 + timedelta(hours=20, minutes=30)),
        busy.conversation.id: (EndReason.MAX_LENGTH, T0 + timedelta(hours=24)),
    }
    assert conv_row(db, fresh.conversation.id).ended_at is None
    assert conv_row(db, busy.conversation.id).end_reason == "max_length"
    # A second sweep finds nothing more to do.
    assert db.writer.run(lambda conn: units.sweep(conn, now)) == []


def test_sweep_uses_each_licensees_idle_timeout(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    quick = make_tenant("Quick", idle_timeout_minutes=5).licensee.id
    slow = make_tenant("Slow", idle_timeout_minutes=30).licensee.id
    a = say(db, speaker(db, quick), "q1", T0)
    b = say(db, speaker(db, slow), "s1", T0)

    endings = db.writer.run(lambda conn: units.sweep(conn, T0 + 6 * MIN))

    assert [(e.conversation.id, e.reason, e.ended_at) for e in endings] == [
        (a.conversation.id, EndReason.IDLE, T0 + 5 * MIN)
    ]
    assert conv_row(db, b.conversation.id).ended_at is None


def test_visitor_close_ends_the_open_unit(db: Database, lic: str) -> None:
    rec = say(db, speaker(db, lic), "c1", T0)
    at = T0 + 3 * MIN

    ending = db.writer.run(
        lambda conn: units.end_open(conn, lic, "vis_1", EndReason.CLOSED, at, DEFAULT)
    )

    assert ending is not None
    assert (ending.conversation.id, ending.reason, ending.ended_at) == (
        rec.conversation.id,
        EndReason.CLOSED,
        at,
    )
    row = conv_row(db, rec.conversation.id)
    assert (row.ended_at, row.end_reason) == (at, "closed")
    assert db.read(lambda conn: units.open_conversation(conn, lic, "vis_1", DEFAULT, at)) is None
    # Nothing open any more: closing again ends nothing.
    again = db.writer.run(
        lambda conn: units.end_open(conn, lic, "vis_1", EndReason.CLOSED, at, DEFAULT)
    )
    assert again is None


def test_closing_a_lapsed_unit_keeps_the_idle_end(db: Database, lic: str) -> None:
    rec = say(db, speaker(db, lic), "c1", T0)
    ending = db.writer.run(
        lambda conn: units.end_open(
            conn, lic, "vis_1", EndReason.CLOSED, T0 + timedelta(hours=2), DEFAULT
        )
    )
    assert ending is not None
    assert (ending.reason, ending.ended_at) == (EndReason.IDLE, T0 + 30 * MIN)
    assert conv_row(db, rec.conversation.id).end_reason == "idle"


def test_end_all_open_on_suspension_ends_only_that_licensees_units(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    a = make_tenant("A").licensee.id
    b = make_tenant("B").licensee.id
    a1 = say(db, speaker(db, a, "v1"), "x", T0)
    a2 = say(db, speaker(db, a, "v2"), "x", T0 + MIN)
    closed = say(db, speaker(db, a, "v3"), "x", T0)
    db.writer.run(lambda conn: units.end_open(conn, a, "v3", EndReason.CLOSED, T0 + MIN))
    b1 = say(db, speaker(db, b, "v1"), "x", T0)
    at = T0 + 5 * MIN

    endings = db.writer.run(lambda conn: units.end_all_open(conn, a, EndReason.SUSPENDED, at))

    assert sorted(e.conversation.id for e in endings) == sorted(
        [a1.conversation.id, a2.conversation.id]
    )
    assert all(e.reason == EndReason.SUSPENDED and e.ended_at == at for e in endings)
    for rec in (a1, a2):
        row = conv_row(db, rec.conversation.id)
        assert (row.ended_at, row.end_reason) == (at, "suspended")
    assert conv_row(db, closed.conversation.id).end_reason == "closed"
    assert conv_row(db, b1.conversation.id).ended_at is None


def test_suspension_does_not_stretch_a_unit_that_already_went_idle(db: Database, lic: str) -> None:
    """A unit idle since T0 ended at T0+30 min (rule 2) even if no sweep noticed it yet, e.g.
    when the licensee is suspended from the CLI while no server runs: suspending three hours
    later must not turn it into a three-hour 'suspended' unit (as ``end_open`` and ``sweep``
    already refuse to do)."""
    idle = say(db, speaker(db, lic, "v_idle"), "x", T0)
    active = say(db, speaker(db, lic, "v_active"), "x", T0 + timedelta(hours=3) - MIN)
    at = T0 + timedelta(hours=3)

    endings = db.writer.run(lambda conn: units.end_all_open(conn, lic, EndReason.SUSPENDED, at))

    got = {e.conversation.id: (e.reason, e.ended_at) for e in endings}
    assert got[active.conversation.id] == (EndReason.SUSPENDED, at)
    assert got[idle.conversation.id] == (EndReason.IDLE, T0 + 30 * MIN)
    row = conv_row(db, idle.conversation.id)
    assert (row.ended_at, row.end_reason) == (T0 + 30 * MIN, "idle")


# ------------------------------------------------------------------------------ rule 3


def test_a_message_after_the_end_starts_a_new_unit(db: Database, lic: str) -> None:
    who = speaker(db, lic)
    old = say(db, who, "c1", T0)
    db.writer.run(lambda conn: units.end_open(conn, lic, "vis_1", EndReason.CLOSED, T0 + MIN))

    new = say(db, who, "c2", T0 + 2 * MIN)

    assert new.started is True
    assert new.ended is None  # the old one was already over
    assert new.conversation.id != old.conversation.id
    assert new.conversation.started_at == T0 + 2 * MIN
    assert len(conv_rows(db, lic)) == 2


def test_a_late_message_without_a_sweep_ends_the_old_unit_as_idle(db: Database, lic: str) -> None:
    who = speaker(db, lic)
    old = say(db, who, "c1", T0)
    # A second before the idle end: still the same unit, and the idle clock restarts from it.
    kept_at = T0 + 30 * MIN - timedelta(seconds=1)
    kept = say(db, who, "c2", kept_at)
    assert kept.started is False and kept.ended is None
    assert kept.conversation.id == old.conversation.id
    at = kept_at + timedelta(hours=2)

    new = say(db, who, "c3", at)

    idle_end = kept_at + 30 * MIN
    assert new.started is True
    assert new.conversation.id != old.conversation.id
    assert new.conversation.started_at == at
    assert new.ended is not None
    assert new.ended.conversation.id == old.conversation.id
    assert (new.ended.reason, new.ended.ended_at) == (EndReason.IDLE, idle_end)
    row = conv_row(db, old.conversation.id)
    assert (row.ended_at, row.end_reason) == (idle_end, "idle")
    assert conv_row(db, new.conversation.id).ended_at is None
    assert message_count(db, conversation_id=old.conversation.id) == 2
    assert message_count(db, conversation_id=new.conversation.id) == 1


# ------------------------------------------------------------------------------ duplicates


def test_duplicate_client_id_is_recognised(db: Database, lic: str) -> None:
    who = speaker(db, lic)
    first = say(db, who, "same", T0, "hello")

    again = say(db, who, "same", T0 + MIN, "hello")

    assert again.duplicate is True
    assert again.started is False
    assert again.conversation.id == first.conversation.id
    assert again.message_id == first.message_id
    assert message_count(db, licensee_id=lic) == 1
    assert conv_row(db, first.conversation.id).last_activity_at == T0

    # A resend long after the idle end opens no new unit either.
    late = say(db, who, "same", T0 + timedelta(hours=5))
    assert late.duplicate is True and late.started is False
    assert late.conversation.id == first.conversation.id
    assert len(conv_rows(db, lic)) == 1
    assert message_count(db, licensee_id=lic) == 1


def test_fifty_concurrent_submits_of_one_client_id_store_one_message(
    db: Database, lic: str
) -> None:
    who = speaker(db, lic)
    barrier = threading.Barrier(50)
    results: list[Recorded] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait(10)
            future = db.writer.submit(
                lambda conn: units.record_visitor_message(conn, who, "dup", "hello", T0)
            )
            result = future.result(30)
            with lock:
                results.append(result)
        except BaseException as exc:  # collected and re-raised in the test thread
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(results) == 50
    assert sum(not r.duplicate for r in results) == 1
    assert {r.conversation.id for r in results} and len({r.conversation.id for r in results}) == 1
    assert len({r.message_id for r in results}) == 1
    assert message_count(db, licensee_id=lic) == 1
    assert len(conv_rows(db, lic)) == 1


# ------------------------------------------------------------------------------ rule 6: test keys


def test_test_key_units_are_marked_and_never_mixed_with_live_ones(db: Database, lic: str) -> None:
    test_who = speaker(db, lic, test=True)
    live_who = speaker(db, lic, test=False)
    trial = say(db, test_who, "t1", T0)
    assert trial.started is True and trial.conversation.test is True
    assert conv_row(db, trial.conversation.id).test is True
    say(db, test_who, "t2", T0 + MIN)

    live = say(db, live_who, "l1", T0 + 2 * MIN)

    assert live.started is True
    assert live.conversation.test is False
    assert live.conversation.id != trial.conversation.id
    assert live.ended is not None and live.ended.conversation.id == trial.conversation.id
    trial_row = conv_row(db, trial.conversation.id)
    assert trial_row.test is True and trial_row.ended_at == T0 + 2 * MIN
    assert conv_row(db, live.conversation.id).test is False
    # Never mixed: the test unit holds only the two test messages, the live one only its own.
    assert message_count(db, conversation_id=trial.conversation.id) == 2
    assert message_count(db, conversation_id=live.conversation.id) == 1

    # And back: a test message during a live unit does not ride on the billed unit.
    back = say(db, test_who, "t3", T0 + 3 * MIN)
    assert back.started is True and back.conversation.test is True
    assert back.conversation.id not in (trial.conversation.id, live.conversation.id)
    assert message_count(db, conversation_id=live.conversation.id) == 1


# ------------------------------------------------------------------------------ rule 5: months


def test_month_usage_uses_the_licensees_time_zone(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    a = make_tenant("A").licensee  # Asia/Shanghai
    b = make_tenant("B").licensee
    last_second_of_jan = datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)  # 23:59:59 Shanghai
    first_second_of_feb = datetime(2026, 1, 31, 16, 0, 0, tzinfo=UTC)  # 00:00:00 Shanghai

    jan = say(db, speaker(db, a.id, "v1"), "m1", last_second_of_jan)
    feb = say(db, speaker(db, a.id, "v2"), "m1", first_second_of_feb)
    say(db, speaker(db, a.id, "v2"), "m2", first_second_of_feb + MIN)
    db.writer.run(
        lambda conn: units.record_reply(
            conn,
            conversation_id=feb.conversation.id,
            licensee_id=a.id,
            visitor_id="v2",
            message_id="msg_reply_feb",
            text="answer",
            ai={"label": "AI-generated", "producer": "test", "model": "m", "content_id": "x"},
            sources=[],
            now=first_second_of_feb + 2 * MIN,
        )
    )
    trial = say(db, speaker(db, a.id, "v3", test=True), "t1", first_second_of_feb + 5 * MIN)
    other = say(db, speaker(db, b.id, "v1"), "m1", first_second_of_feb + 5 * MIN)
    say(db, speaker(db, b.id, "v9"), "m1", last_second_of_jan)

    january = db.read(lambda conn: month_usage(conn, a, "2026-01"))
    february = db.read(lambda conn: month_usage(conn, a, "2026-02"))

    assert [line.id for line in january.lines] == [jan.conversation.id]
    assert january.units == 1
    assert [line.id for line in february.lines] == [feb.conversation.id, trial.conversation.id]
    assert february.units == 1  # the test unit is listed but not billed
    by_id = {line.id: line for line in february.lines}
    assert by_id[feb.conversation.id].messages == 3
    assert by_id[feb.conversation.id].billable is True
    assert by_id[feb.conversation.id].test is False
    assert by_id[trial.conversation.id].test is True
    assert by_id[trial.conversation.id].billable is False
    assert by_id[trial.conversation.id].messages == 1
    started = by_id[feb.conversation.id].started_at
    assert started == first_second_of_feb
    assert started.utcoffset() == timedelta(hours=8)
    assert started.isoformat() == "2026-02-01T00:00:00+08:00"
    assert january.lines[0].started_at.isoformat() == "2026-01-31T23:59:59+08:00"
    # Licensee A never sees B's units, in either month.
    assert other.conversation.id not in {line.id for line in january.lines + february.lines}
    assert db.read(lambda conn: month_usage(conn, a, "2026-03")).lines == []


def test_month_usage_in_a_zone_west_of_utc(db: Database, make_tenant: Callable[..., Any]) -> None:
    la = make_tenant("LA", timezone="America/Los_Angeles").licensee
    at = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # still 28 February in Los Angeles
    rec = say(db, speaker(db, la.id), "m1", at)

    february = db.read(lambda conn: month_usage(conn, la, "2026-02"))
    march = db.read(lambda conn: month_usage(conn, la, "2026-03"))

    assert [line.id for line in february.lines] == [rec.conversation.id]
    assert march.lines == []
    assert february.lines[0].started_at.isoformat() == "2026-02-28T21:00:00-08:00"


# ------------------------------------------------------------------------------ rules 4/6: replies


def test_record_reply_stores_the_robot_message_with_ai_metadata(db: Database, lic: str) -> None:
    rec = say(db, speaker(db, lic), "c1", T0, "How do I return an item?")
    ai = {"label": "AI-generated", "producer": "kefu", "model": "kb-answerer", "content_id": "c9"}
    sources = [{"id": "kb_1", "question": "Returns"}]
    db.writer.run(
        lambda conn: units.record_reply(
            conn,
            conversation_id=rec.conversation.id,
            licensee_id=lic,
            visitor_id="vis_1",
            message_id="msg_r1",
            text="Within 7 days.",
            ai=ai,
            sources=sources,
            now=T0 + MIN,
        )
    )

    rows = db.read(lambda conn: units.history(conn, rec.conversation.id))
    assert [(r.role, r.text) for r in rows] == [
        (Role.VISITOR, "How do I return an item?"),
        (Role.ROBOT, "Within 7 days."),
    ]
    robot = rows[1]
    assert robot.id == "msg_r1"
    assert robot.ai == ai
    assert robot.sources == sources
    assert robot.client_id is None
    assert robot.at == T0 + MIN
    assert rows[0].ai is None and rows[0].client_id == "c1"
    # A reply is activity: the idle clock restarts from it.
    assert conv_row(db, rec.conversation.id).last_activity_at == T0 + MIN


def test_history_is_in_order_and_keeps_markup_verbatim(db: Database, lic: str) -> None:
    who = speaker(db, lic)
    markup = "<script>alert(1)</script>"
    rec = say(db, who, "c1", T0, markup)
    reply = ReplyFields(
        conversation_id=rec.conversation.id,
        licensee_id=lic,
        visitor_id="vis_1",
        ai={"label": "AI-generated", "producer": "t", "model": "m", "content_id": "x"},
        sources=[],
    )
    db.writer.run(
        lambda conn: units.record_reply(
            conn, message_id="r1", text="<b>1</b> &amp;", now=T0 + MIN, **reply
        )
    )
    say(db, who, "c2", T0 + 2 * MIN, "second & <i>")
    db.writer.run(
        lambda conn: units.record_reply(
            conn, message_id="r2", text="third", now=T0 + 3 * MIN, **reply
        )
    )

    rows = db.read(lambda conn: units.history(conn, rec.conversation.id))

    assert [r.text for r in rows] == [markup, "<b>1</b> &amp;", "second & <i>", "third"]
    assert [r.role for r in rows] == [Role.VISITOR, Role.ROBOT, Role.VISITOR, Role.ROBOT]
    assert [r.at for r in rows] == [T0 + n * MIN for n in range(4)]
    seqs = db.read(
        lambda conn: (
            conn.execute(
                select(messages_t.c.seq)
                .where(messages_t.c.conversation_id == rec.conversation.id)
                .order_by(messages_t.c.seq)
            )
            .scalars()
            .all()
        )
    )
    assert seqs == [1, 2, 3, 4]


# ------------------------------------------------------------------------------ ratings


def rate(db: Database, lic: str, score: int, comment: str | None, at: datetime) -> Any:
    return db.writer.run(lambda conn: units.record_rating(conn, lic, "vis_1", score, comment, at))


def ratings_of(db: Database, conversation_id: str) -> list[tuple[int, str | None]]:
    r = ratings_t.c
    return [
        (row.score, row.comment)
        for row in db.read(
            lambda conn: conn.execute(
                select(r.score, r.comment).where(r.conversation_id == conversation_id)
            ).all()
        )
    ]


def test_rating_rates_the_last_ended_unit_and_replaces_an_earlier_rating(
    db: Database, lic: str
) -> None:
    who = speaker(db, lic)
    assert rate(db, lic, 5, None, T0) is None  # nothing at all yet
    first = say(db, who, "c1", T0)
    assert rate(db, lic, 5, None, T0) is None  # open, not ended: nothing to rate
    db.writer.run(lambda conn: units.end_open(conn, lic, "vis_1", EndReason.CLOSED, T0 + MIN))
    second = say(db, who, "c2", T0 + 2 * MIN)
    db.writer.run(lambda conn: units.end_open(conn, lic, "vis_1", EndReason.CLOSED, T0 + 3 * MIN))
    say(db, who, "c3", T0 + 4 * MIN)  # a third, still open: not rateable

    rated = rate(db, lic, 2, "meh", T0 + 5 * MIN)
    assert rated is not None and rated.id == second.conversation.id
    assert ratings_of(db, second.conversation.id) == [(2, "meh")]

    again = rate(db, lic, 5, None, T0 + 6 * MIN)
    assert again is not None and again.id == second.conversation.id
    assert ratings_of(db, second.conversation.id) == [(5, None)]
    assert ratings_of(db, first.conversation.id) == []
    count = db.read(
        lambda conn: conn.execute(select(func.count()).select_from(ratings_t)).scalar_one()
    )
    assert count == 1


def test_unanswered_questions_are_the_last_ones_beyond_the_replies() -> None:
    def row(role: Role, n: int) -> units.HistoryRow:
        return units.HistoryRow(f"m{n}", role, f"text {n}", T0)

    v, r = Role.VISITOR, Role.ROBOT
    assert units.unanswered([row(v, 1), row(r, 2)]) == []
    assert units.unanswered([row(v, 1), row(v, 2), row(r, 3)]) == [row(v, 2)]  # q1, q2, answer 1
    assert units.unanswered([row(v, 1), row(v, 2)]) == [row(v, 1), row(v, 2)]
    assert units.unanswered([]) == []
