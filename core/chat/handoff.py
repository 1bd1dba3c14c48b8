"""Hand-off to people: requests, the queue, assignment, release, close and agents' messages.

Every function takes the unit of work's ``Session`` and ``now``. The state is in the database,
never in a process: who holds a conversation is the ``handoffs`` row (and the unit's ``handoff``
column, read with every visitor message), so a restart or a second process sees what the first
one did. Taking a request is one conditional UPDATE: of several agents accepting at once, on
any number of processes, exactly one changes the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.frames import EndReason, Role
from core.chat.handoff_rules import Rules, rules_for, within_hours
from core.db.tables import (
    AgentPresence,
    Conversation,
    Handoff,
    Licensee,
    Message,
    User,
    table_of,
)
from core.ids import new_id

_h = table_of(Handoff)
_p = table_of(AgentPresence)
_c = table_of(Conversation)
_m = table_of(Message)
H, P, C, M = _h.c, _p.c, _c.c, _m.c
U = table_of(User).c

LIVE = ("queued", "assigned")
# The predicate of the unique index ``uq_handoffs_live_conversation`` (core/db/tables.py).
_LIVE_WHERE = text("status IN ('queued', 'assigned')")
AGENT_ID_PREFIX = "agent:"  # agents' message ids share the visitor's unique client-id space
DEFAULT_WAIT = timedelta(minutes=1)  # the estimate per place before any request was taken


class State(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RELEASED = "released"  # given back to the robot
    CLOSED = "closed"  # the agent ended the conversation
    ENDED = "ended"  # the conversation ended otherwise (the end user left, idle, suspension)


@dataclass(frozen=True, slots=True)
class Agent:
    """A signed-in agent as the chat server knows it."""

    id: str
    name: str
    licensee_id: str


@dataclass(frozen=True, slots=True)
class Live:
    """A request for a person that is queued or held."""

    id: str
    conversation_id: str
    licensee_id: str
    visitor_id: str
    state: State
    queued_at: datetime
    agent_id: str | None
    agent_name: str | None
    page: str | None
    locale: str | None
    position: int | None = None  # with ``queued``: 1 is next
    wait_seconds: int | None = None  # with ``queued``: the estimate


@dataclass(frozen=True, slots=True)
class QueueItem:
    conversation_id: str
    visitor_id: str
    waiting_since: datetime
    preview: str
    page: str | None
    locale: str | None


class Refusal(StrEnum):
    TAKEN = "taken"  # another agent has it (or it is no longer waiting)
    NOT_FOUND = "not_found"  # no such conversation of this agent's licensee
    NOT_YOURS = "not_yours"  # this agent does not hold it


_LIVE_COLUMNS = (
    H.id,
    H.conversation_id,
    H.licensee_id,
    H.visitor_id,
    H.status,
    H.queued_at,
    H.agent_id,
    H.agent_name,
    H.page,
    H.locale,
)


def _live(row: object) -> Live:
    r = row
    return Live(
        r.id,  # type: ignore[attr-defined]
        r.conversation_id,  # type: ignore[attr-defined]
        r.licensee_id,  # type: ignore[attr-defined]
        r.visitor_id,  # type: ignore[attr-defined]
        State(r.status),  # type: ignore[attr-defined]
        r.queued_at,  # type: ignore[attr-defined]
        r.agent_id,  # type: ignore[attr-defined]
        r.agent_name,  # type: ignore[attr-defined]
        r.page,  # type: ignore[attr-defined]
        r.locale,  # type: ignore[attr-defined]
    )


# ---------------------------------------------------------------- presence


def agents_online(session: Session, licensee_id: str, now: datetime, ttl: timedelta) -> int:
    """How many of the licensee's agents have a console open (seen within ``ttl``)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(_p)
            .where(P.licensee_id == licensee_id, P.connected.is_(True), P.last_seen_at >= now - ttl)
        ).scalar_one()
    )


def has_agents(session: Session, licensee_id: str) -> bool:
    """Whether the licensee has agents: a user with the agent role (or a console ever open)."""
    user = session.execute(
        select(U.id).where(U.licensee_id == licensee_id, U.role == "agent").limit(1)
    ).first()
    if user is not None:
        return True
    seen = select(P.agent_id).where(P.licensee_id == licensee_id).limit(1)
    return session.execute(seen).first() is not None


def seen(session: Session, agents: list[Agent], now: datetime) -> None:
    """These agents have a console open on this process now (on connect and every heartbeat)."""
    for agent in agents:
        done = session.execute(
            update(_p)
            .where(P.agent_id == agent.id)
            .values(connected=True, last_seen_at=now, name=agent.name)
        ).rowcount  # type: ignore[attr-defined]
        if not done:
            session.execute(
                insert(_p).values(
                    agent_id=agent.id,
                    licensee_id=agent.licensee_id,
                    name=agent.name,
                    connected=True,
                    last_seen_at=now,
                )
            )


def gone(session: Session, agent_id: str, now: datetime) -> None:
    """The agent's last console on this process closed: the grace period runs from now."""
    session.execute(
        update(_p).where(P.agent_id == agent_id).values(connected=False, last_seen_at=now)
    )


def available(
    session: Session, licensee_id: str, rules: Rules, now: datetime, ttl: timedelta
) -> bool:
    """Whether a request would reach a person now: within hours and an agent signed in."""
    lic = table_of(Licensee).c
    tz = session.execute(select(lic.timezone).where(lic.id == licensee_id)).scalar_one()
    return (
        within_hours(rules.hours, str(tz), now)
        and agents_online(session, licensee_id, now, ttl) > 0
    )


# ---------------------------------------------------------------- end user's side


def live(session: Session, conversation_id: str) -> Live | None:
    """The conversation's request for a person, queued or held, with its place in the queue."""
    row = session.execute(
        select(*_LIVE_COLUMNS).where(H.conversation_id == conversation_id, H.status.in_(LIVE))
    ).first()
    if row is None:
        return None
    found = _live(row)
    if found.state != State.QUEUED:
        return found
    return _with_place(session, found)


def _with_place(session: Session, found: Live) -> Live:
    place = int(
        session.execute(
            select(func.count())
            .select_from(_h)
            .where(
                H.licensee_id == found.licensee_id,
                H.status == State.QUEUED.value,
                H.queued_at <= found.queued_at,
            )
        ).scalar_one()
    )
    per_place = average_wait(session, found.licensee_id)
    return Live(
        **{
            **{f: getattr(found, f) for f in Live.__slots__},
            "position": place,
            "wait_seconds": int(per_place.total_seconds() * place),
        }
    )


def average_wait(session: Session, licensee_id: str, last: int = 20) -> timedelta:
    """The mean wait of the licensee's last ``last`` taken requests (a minute before any)."""
    rows = session.execute(
        select(H.queued_at, H.assigned_at)
        .where(H.licensee_id == licensee_id, H.assigned_at.is_not(None))
        .order_by(H.assigned_at.desc())
        .limit(last)
    ).all()
    if not rows:
        return DEFAULT_WAIT
    total = sum(((r.assigned_at - r.queued_at) for r in rows), timedelta())
    return max(total / len(rows), timedelta(seconds=10))


def request(
    session: Session,
    *,
    conversation_id: str,
    licensee_id: str,
    visitor_id: str,
    note: str | None,
    page: str | None,
    locale: str | None,
    now: datetime,
    ttl: timedelta,
) -> Live | None:
    """Queue the conversation for a person; the live request when there is one already; None
    when nobody can take it now (outside hours or no agent signed in)."""
    current = live(session, conversation_id)
    if current is not None:
        return current
    rules = rules_for(session, licensee_id)
    if not available(session, licensee_id, rules, now, ttl):
        return None
    values = {
        "id": new_id("ho"),
        "conversation_id": conversation_id,
        "licensee_id": licensee_id,
        "visitor_id": visitor_id,
        "status": State.QUEUED.value,
        "note": note,
        "page": page[:2000] if page else None,
        "locale": locale[:35] if locale else None,
        "requested_at": now,
        "queued_at": now,
    }
    # Another tab (or process) of the end user may be asking in a transaction of its own right
    # now: the one live request per conversation is whichever insert lands first, and the other
    # waits for it (PostgreSQL) and then joins it instead of failing on the unique index.
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = session.execute(
        maker(_h)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[H.conversation_id], index_where=_LIVE_WHERE)
    ).rowcount  # type: ignore[attr-defined]
    if added:
        session.execute(
            update(_c).where(C.id == conversation_id).values(handoff=State.QUEUED.value)
        )
    return live(session, conversation_id)


# ---------------------------------------------------------------- agents' side


def queue(session: Session, licensee_id: str, limit: int = 200) -> list[QueueItem]:
    """The licensee's waiting conversations, oldest first, with the end user's last words."""
    rows = session.execute(
        select(H.conversation_id, H.visitor_id, H.queued_at, H.page, H.locale)
        .where(H.licensee_id == licensee_id, H.status == State.QUEUED.value)
        .order_by(H.queued_at, H.id)
        .limit(limit)
    ).all()
    items = []
    for r in rows:
        preview = session.execute(
            select(M.text)
            .where(M.conversation_id == r.conversation_id, M.role == Role.VISITOR.value)
            .order_by(M.seq.desc())
            .limit(1)
        ).scalar()
        items.append(
            QueueItem(
                r.conversation_id,
                r.visitor_id,
                r.queued_at,
                (preview or "")[:140],
                r.page,
                r.locale,
            )
        )
    return items


def held_by(session: Session, agent_id: str) -> list[Live]:
    """The conversations the agent holds (what a reconnecting console is given back)."""
    rows = session.execute(
        select(*_LIVE_COLUMNS)
        .where(H.agent_id == agent_id, H.status == State.ASSIGNED.value)
        .order_by(H.queued_at)
    ).all()
    return [_live(r) for r in rows]


def accept(session: Session, agent: Agent, conversation_id: str, now: datetime) -> Live | Refusal:
    """Take a waiting conversation: one conditional UPDATE, so exactly one agent wins."""
    taken = session.execute(
        update(_h)
        .where(
            H.conversation_id == conversation_id,
            H.licensee_id == agent.licensee_id,
            H.status == State.QUEUED.value,
        )
        .values(
            status=State.ASSIGNED.value,
            agent_id=agent.id,
            agent_name=agent.name,
            assigned_at=now,
        )
        .returning(H.id)
    ).first()
    if taken is None:
        mine = session.execute(
            select(H.id).where(
                H.conversation_id == conversation_id, H.licensee_id == agent.licensee_id
            )
        ).first()
        return Refusal.TAKEN if mine is not None else Refusal.NOT_FOUND
    session.execute(update(_c).where(C.id == conversation_id).values(handoff=State.ASSIGNED.value))
    found = live(session, conversation_id)
    assert found is not None
    return found


def _held(session: Session, agent: Agent, conversation_id: str) -> Live | Refusal:
    found = live(session, conversation_id)
    if found is None or found.licensee_id != agent.licensee_id:
        exists = session.execute(
            select(C.id).where(C.id == conversation_id, C.licensee_id == agent.licensee_id)
        ).first()
        return Refusal.NOT_YOURS if exists is not None else Refusal.NOT_FOUND
    if found.state != State.ASSIGNED or found.agent_id != agent.id:
        return Refusal.NOT_YOURS
    return found


def _finish(session: Session, held: Live, state: State, now: datetime) -> None:
    session.execute(update(_h).where(H.id == held.id).values(status=state.value, finished_at=now))
    session.execute(update(_c).where(C.id == held.conversation_id).values(handoff=None))


def release(session: Session, agent: Agent, conversation_id: str, now: datetime) -> Live | Refusal:
    """Give the conversation back to the robot."""
    held = _held(session, agent, conversation_id)
    if isinstance(held, Live):
        _finish(session, held, State.RELEASED, now)
    return held


def close(
    session: Session, agent: Agent, conversation_id: str, now: datetime
) -> units.Ending | Refusal:
    """End the conversation (reason ``agent``); it stays the one unit it was."""
    held = _held(session, agent, conversation_id)
    if not isinstance(held, Live):
        return held
    _finish(session, held, State.CLOSED, now)
    ending = units.end_open(session, held.licensee_id, held.visitor_id, EndReason.AGENT, now)
    if ending is None or ending.conversation.id != conversation_id:
        return Refusal.NOT_FOUND
    return ending


@dataclass(frozen=True, slots=True)
class Said:
    """An agent's message, stored (or found stored: ``duplicate``)."""

    held: Live
    message: units.HistoryRow
    duplicate: bool


def say(
    session: Session,
    agent: Agent,
    conversation_id: str,
    client_id: str,
    text: str,
    now: datetime,
    first: bool = True,
) -> Said | Refusal:
    """Store an agent's message in the conversation it holds; the same id again is found.
    ``first``: it counts as the agent's response (the automatic greeting does not)."""
    held = _held(session, agent, conversation_id)
    if not isinstance(held, Live):
        return held
    key = AGENT_ID_PREFIX + client_id
    earlier = session.execute(
        select(M.id, M.text, M.created_at).where(
            M.licensee_id == held.licensee_id, M.visitor_id == held.visitor_id, M.client_id == key
        )
    ).first()
    if earlier is not None:
        row = units.HistoryRow(earlier.id, Role.AGENT, earlier.text, earlier.created_at)
        return Said(held, row, duplicate=True)
    message_id = new_id("msg")
    units.record_reply(
        session,
        conversation_id=conversation_id,
        licensee_id=held.licensee_id,
        visitor_id=held.visitor_id,
        message_id=message_id,
        text=text,
        ai=None,  # an agent's words carry no AI label
        sources=None,
        now=now,
        role=Role.AGENT,
        client_id=key,
    )
    if first:
        session.execute(
            update(_h)
            .where(H.id == held.id, H.first_response_at.is_(None))
            .values(first_response_at=now)
        )
    return Said(held, units.HistoryRow(message_id, Role.AGENT, text, now), duplicate=False)


@dataclass(frozen=True, slots=True)
class Returned:
    """A conversation whose agent was gone past the grace period: queued again."""

    conversation_id: str
    licensee_id: str
    visitor_id: str
    agent_id: str


def return_lost(session: Session, now: datetime, ttl: timedelta) -> list[Returned]:
    """Queue again the conversations of agents whose console has been gone longer than their
    licensee's grace period (a crash of their server included: its heartbeat stops)."""
    rows = session.execute(
        select(
            H.id,
            H.conversation_id,
            H.licensee_id,
            H.visitor_id,
            H.agent_id,
            P.connected,
            P.last_seen_at,
        )
        .select_from(_h.outerjoin(_p, P.agent_id == H.agent_id))
        .where(H.status == State.ASSIGNED.value)
    ).all()
    back: list[Returned] = []
    grace: dict[str, timedelta] = {}
    for r in rows:
        if r.licensee_id not in grace:
            grace[r.licensee_id] = timedelta(
                seconds=rules_for(session, r.licensee_id).grace_seconds
            )
        last = r.last_seen_at
        alive = last is not None and r.connected and last >= now - ttl
        if alive or (last is not None and last >= now - grace[r.licensee_id]):
            continue
        session.execute(
            update(_h)
            .where(H.id == r.id, H.status == State.ASSIGNED.value)
            .values(status=State.QUEUED.value, agent_id=None, agent_name=None, assigned_at=None)
        )
        session.execute(
            update(_c).where(C.id == r.conversation_id).values(handoff=State.QUEUED.value)
        )
        back.append(Returned(r.conversation_id, r.licensee_id, r.visitor_id, r.agent_id))
    return back


def transcript(
    session: Session, agent: Agent, conversation_id: str
) -> list[units.HistoryRow] | Refusal:
    """The whole conversation, for an agent of its licensee."""
    found = session.execute(
        select(C.id).where(C.id == conversation_id, C.licensee_id == agent.licensee_id)
    ).first()
    if found is None:
        return Refusal.NOT_FOUND
    return units.history(session, conversation_id)


def licensee_of_conversation(session: Session, conversation_id: str) -> str | None:
    return session.execute(select(C.licensee_id).where(C.id == conversation_id)).scalar()


def queued_conversations(session: Session, conversation_ids: list[str]) -> set[str]:
    """Which of these conversations are waiting in a queue."""
    if not conversation_ids:
        return set()
    rows = session.execute(
        select(H.conversation_id).where(
            and_(H.conversation_id.in_(conversation_ids), or_(H.status == State.QUEUED.value))
        )
    ).all()
    return {r[0] for r in rows}
