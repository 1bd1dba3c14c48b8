"""Hand-off rules in core, on both databases: queue, one-winner accept, licensee scope, agents'
messages, the robot's silence, grace, the end of a unit, hours and phrases, and the figures."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from core.chat import conversations as units
from core.chat import handoff, left_messages
from core.chat.frames import EndReason, Role
from core.chat.handoff_figures import figures
from core.chat.handoff_rules import parse_hours, rules_for, save_rules, within_hours
from core.db.engine import Database
from core.db.tables import Conversation, Handoff, KeyKind, Message
from core.errors import InvalidInput
from testkit.tenants import MakeTenant, key_id

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TTL = timedelta(seconds=30)


def speaker(db: Database, licensee_id: str, visitor: str) -> units.Speaker:
    return units.Speaker(
        licensee_id=licensee_id,
        visitor_id=visitor,
        key_id=key_id(db, licensee_id, KeyKind.LIVE),
        test=False,
        beyond_term=False,
        policy=units.UnitPolicy(),
    )


def said(
    db: Database, lic: str, visitor: str, cid: str, text: str, at: datetime, hold: bool = False
) -> units.Recorded:
    who = speaker(db, lic, visitor)
    rec = db.writer.run(lambda s: units.offer_visitor_message(s, who, cid, text, at, hold))
    assert isinstance(rec, units.Recorded)
    return rec


def agent(lic: str, n: int = 1) -> handoff.Agent:
    return handoff.Agent(id=f"u_{lic}_{n}", name=f"Agent {n}", licensee_id=lic)


def sign_in(db: Database, *agents: handoff.Agent, at: datetime = T0) -> None:
    db.writer.run(lambda s: handoff.seen(s, list(agents), at))


def ask(db: Database, rec: units.Recorded, lic: str, visitor: str, at: datetime) -> object:
    conv = rec.conversation.id
    return db.writer.run(
        lambda s: handoff.request(
            s,
            conversation_id=conv,
            licensee_id=lic,
            visitor_id=visitor,
            note=None,
            page="https://shop.example.com/p/1",
            locale="zh-CN",
            now=at,
            ttl=TTL,
        )
    )


def test_nobody_signed_in_is_unavailable_and_nothing_queues(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    assert ask(db, rec, lic, "v1", T0) is None
    assert db.read(lambda s: handoff.queue(s, lic)) == []
    # An agent who left long ago does not count either.
    sign_in(db, agent(lic), at=T0 - timedelta(hours=1))
    assert ask(db, rec, lic, "v1", T0) is None


def test_requests_queue_in_order_with_positions(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    sign_in(db, agent(lic))
    first = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    second = said(db, lic, "v2", "m1", "human", T0 + timedelta(seconds=5), hold=True)
    one = ask(db, first, lic, "v1", T0)
    two = ask(db, second, lic, "v2", T0 + timedelta(seconds=5))
    assert isinstance(one, handoff.Live) and isinstance(two, handoff.Live)
    assert (one.state, one.position, two.position) == (handoff.State.QUEUED, 1, 2)
    assert two.wait_seconds == 2 * 60  # a minute a place before any request was taken
    # Asking again changes nothing.
    again = ask(db, second, lic, "v2", T0 + timedelta(seconds=9))
    assert isinstance(again, handoff.Live) and again.id == two.id
    queue = db.read(lambda s: handoff.queue(s, lic))
    assert [q.visitor_id for q in queue] == ["v1", "v2"]
    assert queue[1].preview == "human" and queue[1].page == "https://shop.example.com/p/1"


def test_two_agents_accepting_at_once_one_wins(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    a, b = agent(lic, 1), agent(lic, 2)
    sign_in(db, a, b)
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    conv = rec.conversation.id
    results: list[object] = []
    gate = threading.Barrier(2)

    def take(who: handoff.Agent) -> None:
        gate.wait()
        # Each in its own connection and transaction, as two processes would.
        with db.session() as s:
            results.append(handoff.accept(s, who, conv, T0 + timedelta(seconds=3)))
            s.commit()

    threads = [threading.Thread(target=take, args=(w,)) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if isinstance(r, handoff.Live)]
    lost = [r for r in results if not isinstance(r, handoff.Live)]
    assert len(won) == 1 and lost == [handoff.Refusal.TAKEN]
    assert won[0].state == handoff.State.ASSIGNED
    holder = db.read(lambda s: s.execute(select(col(Handoff.agent_id))).scalar_one())
    assert holder == won[0].agent_id


def test_two_tabs_asking_at_once_share_one_request(
    db: Database, make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both transactions have looked for a live request and found none before either inserts
    (as two tabs on two connections can): the later one joins the earlier one's request, it does
    not fail on the unique index (nor rely on its caller to retry it)."""
    lic = make_tenant().licensee.id
    sign_in(db, agent(lic))
    rec = said(db, lic, "v1", "m1", "hello", T0)
    conv = rec.conversation.id
    both_looked = threading.Barrier(2, timeout=3)  # SQLite: the second waits for the write lock
    checked = handoff.available

    def then_wait(*args: object, **kw: object) -> bool:
        found = checked(*args, **kw)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait()
        return found

    monkeypatch.setattr(handoff, "available", then_wait)
    results: list[object] = []

    def tab() -> None:
        try:
            with db.session() as s:
                results.append(
                    handoff.request(
                        s,
                        conversation_id=conv,
                        licensee_id=lic,
                        visitor_id="v1",
                        note=None,
                        page=None,
                        locale="en",
                        now=T0,
                        ttl=TTL,
                    )
                )
                s.commit()
        except Exception as exc:  # what today's failure looked like: IntegrityError
            results.append(exc)

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, handoff.Live) for r in results), results
    lives = [r for r in results if isinstance(r, handoff.Live)]
    assert len(lives) == 2 and lives[0].id == lives[1].id
    assert lives[0].state == handoff.State.QUEUED and lives[0].position == 1
    count = db.read(lambda s: s.execute(select(func.count()).select_from(Handoff)).scalar_one())
    assert count == 1


def test_another_licensees_agent_can_do_nothing(db: Database, make_tenant: MakeTenant) -> None:
    a_lic = make_tenant("A").licensee.id
    b_lic = make_tenant("B", origins=["https://b.example.com"]).licensee.id
    mine, theirs = agent(a_lic), agent(b_lic)
    sign_in(db, mine, theirs)
    rec = said(db, a_lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, a_lic, "v1", T0)
    conv = rec.conversation.id
    assert db.writer.run(lambda s: handoff.accept(s, theirs, conv, T0)) == handoff.Refusal.NOT_FOUND
    assert db.read(lambda s: handoff.queue(s, b_lic)) == []
    assert db.read(lambda s: handoff.transcript(s, theirs, conv)) == handoff.Refusal.NOT_FOUND
    assert isinstance(db.writer.run(lambda s: handoff.accept(s, mine, conv, T0)), handoff.Live)
    for act in (
        lambda s: handoff.say(s, theirs, conv, "x1", "hello", T0),
        lambda s: handoff.release(s, theirs, conv, T0),
        lambda s: handoff.close(s, theirs, conv, T0),
    ):
        assert db.writer.run(act) == handoff.Refusal.NOT_FOUND
    live = db.read(lambda s: handoff.live(s, conv))
    assert live is not None and live.agent_id == mine.id  # nothing changed
    count = db.read(lambda s: s.execute(select(func.count()).select_from(Message)).scalar_one())
    assert count == 1


def test_agent_messages_are_stored_once_and_count_as_activity(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    a = agent(lic)
    sign_in(db, a)
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    conv = rec.conversation.id
    db.writer.run(lambda s: handoff.accept(s, a, conv, T0))
    later = T0 + timedelta(minutes=20)
    first = db.writer.run(lambda s: handoff.say(s, a, conv, "a-1", "<b>hi</b>", later))
    again = db.writer.run(lambda s: handoff.say(s, a, conv, "a-1", "<b>hi</b>", later))
    assert isinstance(first, handoff.Said) and isinstance(again, handoff.Said)
    assert not first.duplicate and again.duplicate and again.message.id == first.message.id
    rows = db.read(lambda s: units.history(s, conv))
    assert [(r.role, r.text) for r in rows] == [
        (Role.VISITOR, "转人工"),
        (Role.AGENT, "<b>hi</b>"),
    ]
    assert rows[1].ai is None  # no AI label on a person's words
    # The agent's message kept the unit open past the visitor's idle time.
    policy = units.UnitPolicy(idle=timedelta(minutes=30))
    open_at = later + timedelta(minutes=25)
    assert db.read(lambda s: units.open_conversation(s, lic, "v1", policy, open_at)) is not None


def test_the_robot_never_answers_what_was_said_to_a_person(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    a = agent(lic)
    sign_in(db, a)
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    db.writer.run(lambda s: handoff.accept(s, a, rec.conversation.id, T0))
    follow = said(db, lic, "v1", "m2", "where is my parcel?", T0 + timedelta(seconds=9))
    assert follow.held
    assert db.read(lambda s: units.waiting(s, rec.conversation.id)) == []
    # Given back to the robot: the next question is the robot's again.
    db.writer.run(lambda s: handoff.release(s, a, rec.conversation.id, T0 + timedelta(minutes=1)))
    after = said(db, lic, "v1", "m3", "and returns?", T0 + timedelta(minutes=2))
    assert not after.held
    waiting = db.read(lambda s: units.waiting(s, rec.conversation.id))
    assert [r.client_id for r in waiting] == ["m3"]


def test_a_unit_that_ends_leaves_the_queue(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    sign_in(db, agent(lic))
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    ending = db.writer.run(
        lambda s: units.end_open(s, lic, "v1", EndReason.CLOSED, T0 + timedelta(seconds=30))
    )
    assert ending is not None
    assert db.read(lambda s: handoff.queue(s, lic)) == []
    status = db.read(lambda s: s.execute(select(col(Handoff.status))).scalar_one())
    assert status == "ended"


def test_an_agent_closes_it_as_one_unit_with_reason_agent(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    a = agent(lic)
    sign_in(db, a)
    rec = said(db, lic, "v1", "m1", "hello", T0)
    ask(db, rec, lic, "v1", T0)
    conv = rec.conversation.id
    db.writer.run(lambda s: handoff.accept(s, a, conv, T0))
    ending = db.writer.run(lambda s: handoff.close(s, a, conv, T0 + timedelta(minutes=3)))
    assert isinstance(ending, units.Ending) and ending.reason == EndReason.AGENT
    with db.read_session() as s:
        convs = s.execute(select(col(Conversation.id), col(Conversation.end_reason))).all()
    assert [tuple(c) for c in convs] == [(conv, "agent")]


def test_a_lost_agents_conversations_queue_again_after_the_grace_period(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    a = agent(lic)
    sign_in(db, a)
    db.writer.run(lambda s: save_rules(s, lic, grace_seconds=60, now=T0))
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    db.writer.run(lambda s: handoff.accept(s, a, rec.conversation.id, T0))
    # The server died (no goodbye): the heartbeat stops; within the grace period nothing moves.
    soon = T0 + timedelta(seconds=50)
    assert db.writer.run(lambda s: handoff.return_lost(s, soon, TTL)) == []
    late = T0 + timedelta(seconds=61)
    back = db.writer.run(lambda s: handoff.return_lost(s, late, TTL))
    assert [b.conversation_id for b in back] == [rec.conversation.id]
    live = db.read(lambda s: handoff.live(s, rec.conversation.id))
    assert live is not None and live.state == handoff.State.QUEUED and live.position == 1
    # An agent whose console is open is never returned, however long ago it accepted.
    db.writer.run(lambda s: handoff.accept(s, a, rec.conversation.id, late))
    sign_in(db, a, at=late + timedelta(hours=1))
    assert db.writer.run(lambda s: handoff.return_lost(s, late + timedelta(hours=1), TTL)) == []


def test_working_hours_are_read_in_the_licensees_time_zone() -> None:
    hours = parse_hours([{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}])
    assert within_hours(hours, "Asia/Shanghai", T0)  # Monday 10:00 there
    assert not within_hours(hours, "Asia/Shanghai", T0 - timedelta(hours=2))  # 08:00
    assert not within_hours(hours, "Europe/London", T0)  # Monday 02:00 there
    assert not within_hours(hours, "Asia/Shanghai", T0 - timedelta(days=1))  # Sunday
    assert within_hours(None, "Asia/Shanghai", T0)  # none by default: always


@pytest.mark.parametrize(
    "bad",
    [
        "9-18",
        [{"days": [0], "start": "09:00", "end": "18:00"}],
        [{"days": [1], "start": "18:00", "end": "09:00"}],
        [{"days": [1], "start": "9am", "end": "18:00"}],
        [{"days": [True], "start": "09:00", "end": "18:00"}],
    ],
)
def test_bad_hours_are_refused_clearly(bad: object) -> None:
    with pytest.raises(InvalidInput):
        parse_hours(bad)


def test_outside_hours_is_unavailable(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    sign_in(db, agent(lic))
    hours = [{"days": [6, 7], "start": "09:00", "end": "18:00"}]  # weekends only
    db.writer.run(lambda s: save_rules(s, lic, hours=hours, now=T0))
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    assert ask(db, rec, lic, "v1", T0) is None


def test_phrases_default_and_custom(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    rules = db.read(lambda s: rules_for(s, lic))
    for text in ("转人工", " 人工客服！", "Human", "TALK TO A PERSON.", "ａｇｅｎｔ"):
        assert rules.asks_for_person(text), text
    for text in ("转人工服务怎么收费", "humans are great", ""):
        assert not rules.asks_for_person(text), text
    db.writer.run(lambda s: save_rules(s, lic, phrases=["找客服"], now=T0))
    custom = db.read(lambda s: rules_for(s, lic))
    assert custom.asks_for_person("找客服") and not custom.asks_for_person("转人工")
    with pytest.raises(InvalidInput):
        db.writer.run(lambda s: save_rules(s, lic, phrases=[""], now=T0))


def test_left_messages_are_listed_and_marked(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    with pytest.raises(InvalidInput):
        db.writer.run(
            lambda s: left_messages.leave(
                s,
                licensee_id=lic,
                visitor_id="v1",
                conversation_id=None,
                contact=" ",
                text="q",
                locale=None,
                page=None,
                now=T0,
            )
        )
    left_id = db.writer.run(
        lambda s: left_messages.leave(
            s,
            licensee_id=lic,
            visitor_id="v1",
            conversation_id=None,
            contact="ann@example.com",
            text="<script>x</script>",
            locale="en",
            page=None,
            now=T0,
        )
    )
    [left] = db.read(lambda s: left_messages.listed(s, lic))
    assert left.text == "<script>x</script>" and left.contact == "ann@example.com"
    assert not db.writer.run(lambda s: left_messages.mark_done(s, "other", left_id, "u", T0))
    assert db.writer.run(lambda s: left_messages.mark_done(s, lic, left_id, "u", T0))
    assert db.read(lambda s: left_messages.listed(s, lic)) == []
    assert len(db.read(lambda s: left_messages.listed(s, lic, done=True))) == 1


def test_figures_rate_wait_first_response_and_per_agent(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    a = agent(lic)
    sign_in(db, a)
    said(db, lic, "v0", "m1", "hello", T0)  # a unit without hand-off
    rec = said(db, lic, "v1", "m1", "转人工", T0, hold=True)
    ask(db, rec, lic, "v1", T0)
    conv = rec.conversation.id
    db.writer.run(lambda s: handoff.accept(s, a, conv, T0 + timedelta(seconds=40)))
    db.writer.run(lambda s: handoff.say(s, a, conv, "g", "hi", T0 + timedelta(seconds=41), False))
    db.writer.run(lambda s: handoff.say(s, a, conv, "r", "ok", T0 + timedelta(seconds=50)))
    got = db.read(lambda s: figures(s, lic, T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert (got.conversations, got.handed_off, got.taken) == (2, 1, 1)
    assert got.rate == 0.5
    assert got.mean_wait_seconds == 40.0
    assert got.mean_first_response_seconds == 10.0  # the greeting does not count
    assert got.per_agent == {a.id: 1}
