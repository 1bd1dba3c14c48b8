"""Usage details: every conversation (= usage unit) that started in a month, licensee's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlmodel import Session

from core.db.tables import Conversation, EndUser, Licensee, Message, table_of
from core.licensing.service_period import month_bounds, zone

_conversations = table_of(Conversation)
_messages = table_of(Message)
_end_users = table_of(EndUser)
C, M, E = _conversations.c, _messages.c, _end_users.c

# New columns go last: scripts read the CSV by position.
USAGE_COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "end_reason",
    "billable",
    "test",
    "messages",
    "end_user",
)


@dataclass(frozen=True, slots=True)
class UsageLine:
    id: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    billable: bool
    test: bool
    messages: int
    beyond_term: bool
    end_user: str | None = None  # the verified hello.user behind the visitor; None if anonymous

    def as_row(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in USAGE_COLUMNS)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    month: str
    units: int  # billable conversations: test-key conversations are shown but never billed
    lines: list[UsageLine]


def month_usage(session: Session, licensee: Licensee, month: str) -> MonthUsage:
    """The month's usage lines, times in the licensee's zone; ``units`` counts billable ones."""
    start, end = month_bounds(month, licensee.timezone)
    counts = (
        select(M.conversation_id, func.count().label("n"))
        .join(_conversations, C.id == M.conversation_id)
        .where(C.licensee_id == licensee.id, C.started_at >= start, C.started_at < end)
        .group_by(M.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(
            C.id,
            C.started_at,
            C.ended_at,
            C.end_reason,
            C.test,
            C.beyond_term,
            func.coalesce(counts.c.n, 0),
            E.user_id,
        )
        .outerjoin(counts, counts.c.conversation_id == C.id)
        # A derived visitor id stands for one user for ever, so the unit's user is the visitor's.
        .outerjoin(_end_users, and_(E.licensee_id == C.licensee_id, E.visitor_id == C.visitor_id))
        .where(C.licensee_id == licensee.id, C.started_at >= start, C.started_at < end)
        .order_by(C.started_at, C.id)
    ).all()
    tz = zone(licensee.timezone)
    lines = [
        UsageLine(
            id=r[0],
            started_at=r[1].astimezone(tz),
            ended_at=r[2].astimezone(tz) if r[2] else None,
            end_reason=r[3],
            billable=not r[4],
            test=bool(r[4]),
            messages=int(r[6]),
            beyond_term=bool(r[5]),
            end_user=r[7],
        )
        for r in rows
    ]
    return MonthUsage(month, sum(1 for line in lines if line.billable), lines)
