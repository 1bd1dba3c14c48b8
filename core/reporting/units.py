"""This month's billable units of several licensees at once (the console's licensee list)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from core.db.tables import Conversation, Licensee, table_of
from core.licensing.service_period import month_bounds, month_of

C = table_of(Conversation).c


def units_this_month(
    session: Session, licensees: Sequence[Licensee], now: datetime
) -> dict[str, int]:
    """Billable conversations started this month, each licensee's month in its own zone.

    One query per time zone among ``licensees`` (usually one), each a range scan of
    ``ix_conversations_licensee_started`` per licensee: a page of 50 licensees costs the same
    whether the table holds a thousand conversations or ten million."""
    by_zone: dict[str, list[str]] = defaultdict(list)
    for licensee in licensees:
        by_zone[licensee.timezone].append(licensee.id)
    counts = {licensee.id: 0 for licensee in licensees}
    for tz, ids in by_zone.items():
        start, end = month_bounds(month_of(now, tz), tz)
        rows = session.execute(
            select(C.licensee_id, func.count())
            .where(
                C.licensee_id.in_(ids),
                C.started_at >= start,
                C.started_at < end,
                C.test.is_(False),
            )
            .group_by(C.licensee_id)
        ).all()
        counts.update({licensee_id: int(n) for licensee_id, n in rows})
    return counts
