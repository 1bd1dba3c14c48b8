"""Usage details: every conversation (= usage unit) that started in a month, licensee's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from core.models import Conversation, Licensee, Message, table_of
from core.service_period import month_bounds, zone

_conversations = table_of(Conversation)
_messages = table_of(Message)
C, M = _conversations.c, _messages.c

USAGE_COLUMNS = ("id", "started_at", "ended_at", "end_reason", "billable", "test", "messages")


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

    def as_row(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in USAGE_COLUMNS)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    month: str
    units: int  # billable conversations: test-key conversations are shown but never billed
    lines: list[UsageLine]


def month_usage(conn: Connection, licensee: Licensee, month: str) -> MonthUsage:
    """The month's usage lines, times in the licensee's zone; ``units`` counts billable ones."""
    start, end = month_bounds(month, licensee.timezone)
    counts = (
        select(M.conversation_id, func.count().label("n"))
        .join(_conversations, C.id == M.conversation_id)
        .where(C.licensee_id == licensee.id, C.started_at >= start, C.started_at < end)
        .group_by(M.conversation_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            C.id,
            C.started_at,
            C.ended_at,
            C.end_reason,
            C.test,
            C.beyond_term,
            func.coalesce(counts.c.n, 0),
        )
        .outerjoin(counts, counts.c.conversation_id == C.id)
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
        )
        for r in rows
    ]
    return MonthUsage(month, sum(1 for line in lines if line.billable), lines)
