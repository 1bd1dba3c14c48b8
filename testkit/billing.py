"""Usage units written straight into the conversation table, for billing tests and benches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from core.db.engine import Database
from core.db.tables import Conversation, KeyKind, table_of
from core.ids import new_id
from testkit.tenants import key_id

_conversations = table_of(Conversation)


def add_units(
    db: Database,
    licensee_id: str,
    starts: Iterable[datetime],
    *,
    test: bool = False,
    beyond_term: bool = False,
    open_: bool = False,
) -> list[str]:
    """One ended (or, with ``open_``, still open) conversation per start time; their ids."""
    key = key_id(db, licensee_id, KeyKind.TEST if test else KeyKind.LIVE)
    rows: list[dict[str, Any]] = []
    for start in starts:
        rows.append(
            {
                "id": new_id("conv"),
                "licensee_id": licensee_id,
                "visitor_id": new_id("vis"),
                "key_id": key,
                "test": test,
                "beyond_term": beyond_term,
                "started_at": start,
                "last_activity_at": start,
                "ended_at": None if open_ else start + timedelta(minutes=5),
                "end_reason": None if open_ else "closed",
                "last_seq": 1,
            }
        )
    if rows:
        with db.session() as session:
            session.execute(insert(_conversations), rows)
            session.commit()
    return [str(r["id"]) for r in rows]
