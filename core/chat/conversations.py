"""Conversations as usage units (PRODUCT.md "One conversation = one unit"), in one session.

Every function here takes the ORM ``Session`` of the unit of work and ``now``; the ones that
change data run in ``Database.write``, so a result is only acted on once it is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlmodel import Session

from core.chat.frames import EndReason, Role
from core.db.tables import (
    Conversation,
    Handoff,
    LicenceStatus,
    Licensee,
    Message,
    Rating,
    table_of,
)
from core.errors import LicenceUnavailable, RateLimited
from core.ids import new_id
from core.licensing.service_period import TermState, local_date, term_state, zone

_conversations = table_of(Conversation)
_messages = table_of(Message)
_ratings = table_of(Rating)
_licensees = table_of(Licensee)
C, M, L = _conversations.c, _messages.c, _licensees.c

# The chat path's statements are built once rather than on every message.
_SEEN = select(M.id, M.conversation_id).where(
    M.licensee_id == bindparam("lic"),
    M.visitor_id == bindparam("vis"),
    M.client_id == bindparam("cid"),
)
_CONV_BY_ID = select(C.id, C.started_at, C.test).where(C.id == bindparam("conv"))
_OPEN = select(
    C.id,
    C.licensee_id,
    C.visitor_id,
    C.started_at,
    C.last_activity_at,
    C.test,
    C.last_seq,
    C.handoff,
).where(C.licensee_id == bindparam("lic"), C.visitor_id == bindparam("vis"), C.ended_at.is_(None))
# Take the next message seq and count the message as activity, in one statement. A reply that
# lands after its unit ended (the end user closed it meanwhile) is stored without reviving it.
_NEXT_SEQ = (
    update(_conversations)
    .where(C.id == bindparam("conv"))
    .values(
        last_seq=C.last_seq + 1,
        last_activity_at=case(
            (C.ended_at.is_(None), bindparam("at", type_=C.last_activity_at.type)),
            else_=C.last_activity_at,
        ),
    )
    .returning(C.last_seq)
)
_END = (
    update(_conversations)
    .where(C.id == bindparam("conv"), C.ended_at.is_(None))
    .values(ended_at=bindparam("at"), end_reason=bindparam("reason"))
    .returning(C.id)
)
_INSERT_CONV = insert(_conversations)
_INSERT_MSG = insert(_messages)
# A unit that ends takes its live request for a person with it (out of the queue, off the agent).
_END_HANDOFF = (
    update(table_of(Handoff))
    .where(
        table_of(Handoff).c.conversation_id == bindparam("conv"),
        table_of(Handoff).c.status.in_(("queued", "assigned")),
    )
    .values(status="ended", finished_at=bindparam("at"))
)

# Whether the licence may start a unit, read under a lock on its row: a suspension (an UPDATE of
# that row) waits for the starts that read it, and a start waits for a suspension being made, so
# no unit starts after a suspension has ended the open ones. Test starts take the row exclusively
# so that the daily count of test units holds across processes too.
_LICENCE = select(L.status, L.service_end, L.timezone).where(L.id == bindparam("lic"))
_LICENCE_SHARED = _LICENCE.with_for_update(read=True)
_LICENCE_EXCLUSIVE = _LICENCE.with_for_update()
_TEST_SINCE = (
    select(func.count())
    .select_from(_conversations)
    .where(C.licensee_id == bindparam("lic"), C.test.is_(True), C.started_at >= bindparam("since"))
)

MAX_LENGTH = timedelta(hours=24)
MAX_MESSAGES = 1000  # messages a unit holds before the next visitor message starts another
TEST_UNITS_PER_DAY = 100  # PRODUCT.md rule 6: test keys are for trying, not for production
SWEEP_BATCH = 500  # units ended per sweeper transaction
MIN_IDLE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class UnitPolicy:
    idle: timedelta = timedelta(minutes=30)
    max_length: timedelta = MAX_LENGTH
    max_messages: int = MAX_MESSAGES
    test_per_day: int = TEST_UNITS_PER_DAY


@dataclass(frozen=True, slots=True)
class Speaker:
    """The end user on one connection: whose unit a message opens or continues."""

    licensee_id: str
    visitor_id: str
    key_id: str
    test: bool
    beyond_term: bool
    policy: UnitPolicy
    credentials: tuple[str, ...] = ()  # the socket's keys, checked unrevoked where it writes
    # False when the caller has not charged the new-conversation limits (its socket believed a
    # unit was open): a message that would start one is then refused with ``LIMITS`` instead.
    may_start: bool = True


@dataclass(frozen=True, slots=True)
class ConvRef:
    id: str
    started_at: datetime
    test: bool


@dataclass(frozen=True, slots=True)
class Ending:
    conversation: ConvRef
    licensee_id: str
    visitor_id: str
    reason: EndReason
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """What storing one visitor message did."""

    conversation: ConvRef
    message_id: str
    duplicate: bool  # the client id was stored before: ack again, answer nothing
    started: bool  # this message started a new usage unit
    ended: Ending | None = None  # a lapsed unit that was ended first
    # Meant for a person (one was asked for or holds the unit): the robot does not answer it.
    held: bool = False


class Refusal(StrEnum):
    """Why a visitor message that would start a unit started none (and was not stored)."""

    LIMITS = "limits"  # the new-conversation limits must be charged first, then try again
    TEST_DAY_FULL = "test_day_full"  # the licensee's test units of today are used up
    SUSPENDED = "suspended"  # the licence may not serve (as LicenceUnavailable's kinds)
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Refused:
    """A visitor message that was not stored because it would have started a unit."""

    reason: Refusal
    ended: Ending | None = None  # a lapsed unit that was ended first (that end is stored)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str
    role: Role
    text: str
    at: datetime
    client_id: str | None = None
    ai: dict[str, Any] | None = None
    sources: list[dict[str, Any]] | None = field(default=None)


def due_end(
    started_at: datetime, last_activity_at: datetime, policy: UnitPolicy, now: datetime
) -> tuple[EndReason, datetime] | None:
    """When and why an open unit has ended by ``now`` (None while it is still open).

    The end time is the moment the rule fired, not the moment somebody noticed: a late sweep
    must not stretch a conversation.
    """
    idle_end = last_activity_at + policy.idle
    cap_end = started_at + policy.max_length
    if now < min(idle_end, cap_end):
        return None
    if idle_end < cap_end:
        return EndReason.IDLE, idle_end
    return EndReason.MAX_LENGTH, cap_end


def _ref(row: Any) -> ConvRef:
    return ConvRef(id=row.id, started_at=row.started_at, test=row.test)


def _end(session: Session, row: Any, reason: EndReason, at: datetime) -> Ending | None:
    done = session.execute(_END, {"conv": row.id, "at": at, "reason": reason.value}).first()
    if done is None:  # ended meanwhile by someone else
        return None
    if row.handoff is not None:
        session.execute(_END_HANDOFF, {"conv": row.id, "at": at})
    return Ending(_ref(row), row.licensee_id, row.visitor_id, reason, at)


def _open_row(session: Session, licensee_id: str, visitor_id: str) -> Any:
    return session.execute(_OPEN, {"lic": licensee_id, "vis": visitor_id}).first()


def _next_seq(session: Session, conversation_id: str, now: datetime) -> int:
    last_seq = session.execute(_NEXT_SEQ, {"conv": conversation_id, "at": now}).scalar_one()
    return int(last_seq)


def test_day_start(now: datetime, tz: str) -> datetime:
    """The start of ``now``'s day in the licensee's time zone (when its test allowance renews)."""
    return datetime.combine(local_date(now, tz), time(0), tzinfo=zone(tz))


def _refusal_to_start(session: Session, who: Speaker, now: datetime) -> Refusal | None:
    """Why ``who`` may not start a unit now, judged in the write that would start it."""
    if not who.may_start:
        return Refusal.LIMITS
    lock = _LICENCE_EXCLUSIVE if who.test else _LICENCE_SHARED
    lic = session.execute(lock, {"lic": who.licensee_id}).one()
    if lic.status == LicenceStatus.SUSPENDED:
        return Refusal.SUSPENDED
    if lic.status == LicenceStatus.REVOKED or (
        term_state(lic.service_end, local_date(now, lic.timezone)) == TermState.LAPSED
    ):
        return Refusal.REVOKED
    if who.test:
        since = test_day_start(now, lic.timezone)
        used = session.execute(_TEST_SINCE, {"lic": who.licensee_id, "since": since}).scalar_one()
        if used >= who.policy.test_per_day:
            return Refusal.TEST_DAY_FULL
    return None


def record_visitor_message(
    session: Session, who: Speaker, client_id: str, text: str, now: datetime
) -> Recorded:
    """``offer_visitor_message``, with a refusal raised: LicenceUnavailable when the licence may
    not serve, RateLimited otherwise (for callers outside the chat's group commit)."""
    result = offer_visitor_message(session, who, client_id, text, now)
    if isinstance(result, Recorded):
        return result
    if result.reason in (Refusal.SUSPENDED, Refusal.REVOKED):
        raise LicenceUnavailable(result.reason.value, "this service is not available")
    retry = (test_day_start(now, _timezone(session, who.licensee_id)) + timedelta(days=1)) - now
    raise RateLimited(retry.total_seconds() if result.reason == Refusal.TEST_DAY_FULL else 1.0)


def _timezone(session: Session, licensee_id: str) -> str:
    return str(session.execute(select(L.timezone).where(L.id == licensee_id)).scalar_one())


def offer_visitor_message(
    session: Session, who: Speaker, client_id: str, text: str, now: datetime, hold: bool = False
) -> Recorded | Refused:
    """Store a visitor message, opening a unit when none is open (rules 1-3).

    Starting a unit is decided here, whatever the caller believed: the licence's state, the
    test allowance and (through ``who.may_start``) the new-conversation limits are checked in
    this transaction. A refusal is a result, not an exception, so that it never rolls back the
    other writes of a group commit. ``hold``: the message is for a person (a hand-off phrase);
    it is held as well when the unit is with a person already.
    """
    seen = session.execute(
        _SEEN, {"lic": who.licensee_id, "vis": who.visitor_id, "cid": client_id}
    ).first()
    if seen is not None:
        earlier = session.execute(_CONV_BY_ID, {"conv": seen.conversation_id}).one()
        return Recorded(_ref(earlier), seen.id, duplicate=True, started=False)

    ended: Ending | None = None
    row = _open_row(session, who.licensee_id, who.visitor_id)
    if row is not None:
        due = due_end(row.started_at, row.last_activity_at, who.policy, now)
        if due is not None:
            ended = _end(session, row, *due)
            row = None
        elif row.test != who.test:
            # A unit never mixes test and live keys: a test unit must not carry billed traffic.
            ended = _end(session, row, EndReason.CLOSED, now)
            row = None
        elif row.last_seq >= who.policy.max_messages:
            # A unit's stored size is bounded; like the 24-hour cap, the next message starts a
            # new one, so the chat goes on.
            ended = _end(session, row, EndReason.MAX_MESSAGES, now)
            row = None

    if row is None:
        refusal = _refusal_to_start(session, who, now)
        if refusal is not None:
            return Refused(refusal, ended)
        conv = ConvRef(id=new_id("conv"), started_at=now, test=who.test)
        session.execute(
            _INSERT_CONV,
            {
                "id": conv.id,
                "licensee_id": who.licensee_id,
                "visitor_id": who.visitor_id,
                "key_id": who.key_id,
                "test": who.test,
                "beyond_term": who.beyond_term,
                "started_at": now,
                "last_activity_at": now,
                "last_seq": 1,
            },
        )
        seq, started = 1, True
    else:
        conv = _ref(row)
        seq, started = _next_seq(session, conv.id, now), False
        hold = hold or row.handoff is not None

    message_id = new_id("msg")
    session.execute(
        _INSERT_MSG,
        {
            "id": message_id,
            "conversation_id": conv.id,
            "licensee_id": who.licensee_id,
            "visitor_id": who.visitor_id,
            "seq": seq,
            "role": Role.VISITOR.value,
            "text": text,
            "client_id": client_id,
            "created_at": now,
            "held": hold,
        },
    )
    return Recorded(conv, message_id, duplicate=False, started=started, ended=ended, held=hold)


def record_reply(
    session: Session,
    *,
    conversation_id: str,
    licensee_id: str,
    visitor_id: str,
    message_id: str,
    text: str,
    ai: dict[str, Any] | None,
    sources: list[dict[str, Any]] | None,
    now: datetime,
    role: Role = Role.ROBOT,
    client_id: str | None = None,
    resolved: bool | None = None,
) -> None:
    """Store a robot (or agent/system) message; it counts as activity while the unit is open
    (an agent's messages keep a unit from going idle like the end user's). ``resolved`` False
    marks a robot reply that did not answer (the unanswered questions)."""
    session.execute(
        _INSERT_MSG,
        {
            "id": message_id,
            "conversation_id": conversation_id,
            "licensee_id": licensee_id,
            "visitor_id": visitor_id,
            "seq": _next_seq(session, conversation_id, now),
            "role": role.value,
            "text": text,
            "client_id": client_id,
            "created_at": now,
            "ai": ai,
            "sources": sources,
            "resolved": resolved,
        },
    )


def open_conversation(
    session: Session, licensee_id: str, visitor_id: str, policy: UnitPolicy, now: datetime
) -> ConvRef | None:
    """The visitor's open unit, or None when there is none or it has already lapsed."""
    row = _open_row(session, licensee_id, visitor_id)
    if row is None or due_end(row.started_at, row.last_activity_at, policy, now) is not None:
        return None
    return _ref(row)


def end_open(
    session: Session,
    licensee_id: str,
    visitor_id: str,
    reason: EndReason,
    now: datetime,
    policy: UnitPolicy | None = None,
) -> Ending | None:
    """End the visitor's open unit (by the end user, an agent...); a lapsed one keeps its rule."""
    row = _open_row(session, licensee_id, visitor_id)
    if row is None:
        return None
    due = due_end(row.started_at, row.last_activity_at, policy, now) if policy else None
    if due is not None:
        return _end(session, row, *due)
    return _end(session, row, reason, now)


# Open units with their licensee's idle time: what both suspension and the sweeper judge.
_OPEN_WITH_IDLE = (
    select(
        C.id,
        C.licensee_id,
        C.visitor_id,
        C.started_at,
        C.last_activity_at,
        C.test,
        C.handoff,
        L.idle_timeout_minutes,
    )
    .join(_licensees, L.id == C.licensee_id)
    .where(C.ended_at.is_(None))
)


def _lapse(row: Any, now: datetime) -> tuple[EndReason, datetime] | None:
    return due_end(
        row.started_at,
        row.last_activity_at,
        UnitPolicy(idle=timedelta(minutes=row.idle_timeout_minutes)),
        now,
    )


def end_all_open(
    session: Session, licensee_id: str, reason: EndReason, now: datetime
) -> list[Ending]:
    """End every open unit of a licensee (suspension); a unit that had already lapsed keeps
    the rule and time that ended it, so nothing is stretched to the suspension time."""
    rows = session.execute(_OPEN_WITH_IDLE.where(C.licensee_id == licensee_id)).all()
    endings = (_end(session, row, *(_lapse(row, now) or (reason, now))) for row in rows)
    return [e for e in endings if e is not None]


def sweep(session: Session, now: datetime, limit: int = SWEEP_BATCH) -> list[Ending]:
    """End the units whose idle time or 24-hour cap has passed (the idle sweeper's one step)."""
    rows = session.execute(
        _OPEN_WITH_IDLE.where(
            (C.last_activity_at <= now - MIN_IDLE) | (C.started_at <= now - MAX_LENGTH)
        )
        .order_by(C.last_activity_at)
        .limit(limit)
    ).all()
    endings = (_end(session, row, *due) for row in rows if (due := _lapse(row, now)) is not None)
    return [e for e in endings if e is not None]


_HISTORY_COLUMNS = (M.id, M.role, M.text, M.created_at, M.client_id, M.ai, M.sources)


def _row(r: Any) -> HistoryRow:
    return HistoryRow(r.id, Role(r.role), r.text, r.created_at, r.client_id, r.ai, r.sources)


def history(session: Session, conversation_id: str) -> list[HistoryRow]:
    rows = session.execute(
        select(*_HISTORY_COLUMNS).where(M.conversation_id == conversation_id).order_by(M.seq)
    ).all()
    return [_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Page:
    """The latest messages of a unit (before a point), oldest first, and whether more precede."""

    rows: list[HistoryRow]
    more: bool


def latest(
    session: Session, conversation_id: str, limit: int, before_seq: int | None = None
) -> Page:
    """At most ``limit`` messages of the unit, the latest ones (before ``before_seq``): what a
    welcome or a history page carries, so that neither grows with the conversation."""
    query = select(*_HISTORY_COLUMNS).where(M.conversation_id == conversation_id)
    if before_seq is not None:
        query = query.where(M.seq < before_seq)
    rows = session.execute(query.order_by(M.seq.desc()).limit(limit + 1)).all()
    return Page([_row(r) for r in reversed(rows[:limit])], more=len(rows) > limit)


def page_before(
    session: Session, licensee_id: str, visitor_id: str, message_id: str, limit: int
) -> Page:
    """The end user's messages before ``message_id`` in its unit; empty when the message is not
    theirs (another visitor's or licensee's ids reveal nothing)."""
    anchor = session.execute(
        select(M.conversation_id, M.seq).where(
            M.id == message_id, M.licensee_id == licensee_id, M.visitor_id == visitor_id
        )
    ).first()
    if anchor is None:
        return Page([], more=False)
    return latest(session, anchor.conversation_id, limit, before_seq=anchor.seq)


def waiting(session: Session, conversation_id: str) -> list[HistoryRow]:
    """``unanswered`` over the whole unit, without loading it: counted in the database. Messages
    held for a person are nobody's question to the robot."""
    robots_own = and_(M.role == Role.VISITOR.value, M.held.is_(False))
    counts = session.execute(
        select(
            func.count().filter(robots_own),
            func.count().filter(M.role == Role.ROBOT.value),
        ).where(M.conversation_id == conversation_id)
    ).one()
    missing = int(counts[0]) - int(counts[1])
    if missing <= 0:
        return []
    rows = session.execute(
        select(*_HISTORY_COLUMNS)
        .where(M.conversation_id == conversation_id, robots_own)
        .order_by(M.seq.desc())
        .limit(missing)
    ).all()
    return [_row(r) for r in reversed(rows)]


def unanswered(rows: Sequence[HistoryRow]) -> list[HistoryRow]:
    """The visitor messages of a conversation's history that have no robot answer, oldest first.

    Every stored visitor message gets exactly one robot reply, stored after it, and replies are
    made in the order their questions came; so the last (visitor messages - robot replies) visitor
    messages are the ones waiting (stored and acknowledged, then the server stopped).
    """
    visitors = [r for r in rows if r.role == Role.VISITOR]
    waiting = len(visitors) - sum(r.role == Role.ROBOT for r in rows)
    return visitors[-waiting:] if waiting > 0 else []


def record_rating(
    session: Session,
    licensee_id: str,
    visitor_id: str,
    score: int,
    comment: str | None,
    now: datetime,
) -> ConvRef | None:
    """Rate the visitor's last ended unit (a new rating replaces the old one); None if none."""
    last = session.execute(
        select(C.id, C.started_at, C.test)
        .where(C.licensee_id == licensee_id, C.visitor_id == visitor_id, C.ended_at.is_not(None))
        .order_by(C.ended_at.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    session.execute(delete(_ratings).where(_ratings.c.conversation_id == last.id))
    session.execute(
        insert(_ratings).values(
            conversation_id=last.id,
            licensee_id=licensee_id,
            score=score,
            comment=comment,
            created_at=now,
        )
    )
    # Kept on the conversation too: the console's search by rating over every licensee reads
    # it from an index instead of probing the ratings of each conversation.
    session.execute(update(_conversations).where(C.id == last.id).values(rating=score))
    return _ref(last)


def message_counts(session: Session, conversation_ids: Sequence[str]) -> dict[str, int]:
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(M.conversation_id, func.count())
        .where(and_(M.conversation_id.in_(conversation_ids)))
        .group_by(M.conversation_id)
    ).all()
    return {r[0]: int(r[1]) for r in rows}
