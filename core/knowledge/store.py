"""A licensee's knowledge base in the database: import (upsert by question), list, export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.db.tables import KbEntryRecord
from core.ids import new_id
from core.knowledge.entries import KbEntry, KbRow
from core.licensing.licensees import get_licensee


@dataclass(frozen=True, slots=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int  # rows whose entry was already exactly so


def import_rows(
    session: Session, licensee_id: str, rows: Sequence[KbRow], now: datetime
) -> ImportCounts:
    """Add or update entries (the same ``question`` updates); the caller commits once, so an
    import is all or nothing."""
    licensee = get_licensee(session, licensee_id)
    existing = {
        r.question: r
        for r in session.exec(select(KbEntryRecord).where(KbEntryRecord.licensee_id == licensee_id))
    }
    added = updated = unchanged = 0
    for row in rows:
        record = existing.get(row.question)
        if record is None:
            record = KbEntryRecord(
                id=new_id("kb"),
                licensee_id=licensee_id,
                question=row.question,
                answer=row.answer,
                similar=list(row.similar),
                tags=list(row.tags),
                answer_en=row.answer_en,
                created_at=now,
                updated_at=now,
            )
            existing[row.question] = record
            added += 1
        else:
            if (record.answer, record.similar, record.tags, record.answer_en) == (
                row.answer,
                list(row.similar),
                list(row.tags),
                row.answer_en,
            ):
                unchanged += 1
                continue
            record.answer, record.similar, record.tags, record.answer_en = (
                row.answer,
                list(row.similar),
                list(row.tags),
                row.answer_en,
            )
            record.updated_at = now
            updated += 1
        session.add(record)
    if added or updated:
        # The running servers rebuild the licensee's index when they see the version move.
        licensee.kb_version += 1
        licensee.updated_at = now
        session.add(licensee)
    return ImportCounts(added, updated, unchanged)


def load_entries(session: Session, licensee_id: str) -> list[KbEntry]:
    records = session.exec(
        select(KbEntryRecord)
        .where(KbEntryRecord.licensee_id == licensee_id)
        .order_by(col(KbEntryRecord.created_at), col(KbEntryRecord.id))
    )
    return [
        KbEntry(
            id=r.id,
            question=r.question,
            answer=r.answer,
            similar=tuple(r.similar),
            tags=tuple(r.tags),
            answer_en=r.answer_en,
        )
        for r in records
    ]
