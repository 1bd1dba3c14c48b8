"""The content filter's log: which question or answer was stopped, by which term, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from core.db.tables import ContentBlock, table_of

_blocks = table_of(ContentBlock)


def record_block(
    session: Session,
    *,
    licensee_id: str,
    conversation_id: str | None,
    reply_id: str | None,
    direction: str,
    term: str,
    producer: str,
    model: str,
    now: datetime,
) -> None:
    session.execute(
        insert(_blocks).values(
            licensee_id=licensee_id,
            conversation_id=conversation_id,
            reply_id=reply_id,
            direction=direction,
            term=term[:200],
            producer=producer[:40],
            model=model[:200],
            created_at=now,
        )
    )
