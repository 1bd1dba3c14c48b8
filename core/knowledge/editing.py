"""Changing a knowledge base entry by entry (console, API, CLI) and replacing it whole.

Every change bumps the licensee's ``kb_version`` in the same transaction, as an import does:
the running servers rebuild their retrieval index (and encode the changed entries' vectors)
when they see the version move. The caller commits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from core.db.tables import KbEntryRecord, KbEntryVectors, Licensee
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import new_id
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.files import MAX_SIMILAR_CHARS, MAX_SIMILAR_COUNT, match_key
from core.knowledge.store import ImportCounts, import_rows, load_entries
from core.licensing.licensees import get_licensee


@dataclass(frozen=True, slots=True)
class ReplaceCounts:
    added: int
    updated: int
    unchanged: int
    deleted: int  # entries not in the file, removed


def entry_of(record: KbEntryRecord) -> KbEntry:
    return KbEntry(
        id=record.id,
        question=record.question,
        answer=record.answer,
        similar=tuple(record.similar),
        tags=tuple(record.tags),
        answer_en=record.answer_en,
    )


def entry_dict(entry: KbEntry) -> dict[str, Any]:
    """An entry as the audit log and the JSON API show it."""
    return {
        "id": entry.id,
        "question": entry.question,
        "answer": entry.answer,
        "answer_en": entry.answer_en,
        "similar": list(entry.similar),
        "tags": list(entry.tags),
    }


def changed(licensee: Licensee, now: datetime) -> None:
    """The knowledge base changed: servers rebuild the licensee's index when they see this."""
    licensee.kb_version += 1
    licensee.updated_at = now


def _record(session: Session, licensee_id: str, entry_id: str) -> KbEntryRecord:
    record = session.get(KbEntryRecord, entry_id)
    # Another licensee's entry is "no such entry": its existence is not shown either.
    if record is None or record.licensee_id != licensee_id:
        raise NotFound(
            f"no knowledge-base entry {entry_id!r}", code="kb.entry_not_found", id=entry_id
        )
    return record


def get_entry(session: Session, licensee_id: str, entry_id: str) -> KbEntry:
    return entry_of(_record(session, licensee_id, entry_id))


def find_by_question(session: Session, licensee_id: str, question: str) -> KbEntry | None:
    """The entry whose standard question is ``question`` (the same after trimming, case and
    width folding), or None."""
    key = match_key(question)
    exact = session.exec(
        select(KbEntryRecord).where(
            KbEntryRecord.licensee_id == licensee_id, KbEntryRecord.question == question.strip()
        )
    ).first()
    if exact is not None:
        return entry_of(exact)
    for entry in load_entries(session, licensee_id):
        if match_key(entry.question) == key:
            return entry
    return None


def _same_question(session: Session, licensee_id: str, question: str, but: str | None) -> None:
    other = find_by_question(session, licensee_id, question)
    if other is not None and other.id != but:
        raise Conflict(
            f"an entry with the question {other.question!r} exists already",
            code="kb.question_taken",
            question=other.question,
        )


def add_entry(session: Session, licensee_id: str, row: KbRow, now: datetime) -> KbEntry:
    licensee = get_licensee(session, licensee_id)
    _same_question(session, licensee_id, row.question, None)
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
    session.add(record)
    changed(licensee, now)
    session.add(licensee)
    return entry_of(record)


def update_entry(
    session: Session, licensee_id: str, entry_id: str, row: KbRow, now: datetime
) -> tuple[KbEntry, KbEntry]:
    """Replace the entry's texts; (before, after)."""
    record = _record(session, licensee_id, entry_id)
    before = entry_of(record)
    _same_question(session, licensee_id, row.question, entry_id)
    record.question, record.answer, record.answer_en = row.question, row.answer, row.answer_en
    record.similar, record.tags = list(row.similar), list(row.tags)
    after = entry_of(record)
    if after != before:
        record.updated_at = now
        session.add(record)
        licensee = get_licensee(session, licensee_id)
        changed(licensee, now)
        session.add(licensee)
    return before, after


def add_similar(
    session: Session, licensee_id: str, entry_id: str, phrasing: str, now: datetime
) -> tuple[KbEntry, KbEntry]:
    """Teach an entry one more phrasing (an unanswered question); (before, after). A phrasing
    the entry already has changes nothing."""
    text = phrasing.strip()
    if not text:
        raise InvalidInput("the phrasing is empty", code="kb.phrasing_empty")
    if len(text) > MAX_SIMILAR_CHARS:
        raise InvalidInput(
            f"the phrasing is longer than {MAX_SIMILAR_CHARS:,} characters",
            code="kb.phrasing_too_long",
            limit=MAX_SIMILAR_CHARS,
        )
    record = _record(session, licensee_id, entry_id)
    before = entry_of(record)
    if match_key(text) in {match_key(p) for p in before.phrasings}:
        return before, before
    if len(before.similar) >= MAX_SIMILAR_COUNT:
        raise InvalidInput(
            f"the entry has {MAX_SIMILAR_COUNT} similar phrasings already",
            code="kb.too_many_phrasings",
            limit=MAX_SIMILAR_COUNT,
        )
    record.similar = [*record.similar, text]
    record.updated_at = now
    session.add(record)
    licensee = get_licensee(session, licensee_id)
    changed(licensee, now)
    session.add(licensee)
    return before, entry_of(record)


def delete_entry(session: Session, licensee_id: str, entry_id: str, now: datetime) -> KbEntry:
    """Remove the entry and its stored vectors; the removed entry."""
    record = _record(session, licensee_id, entry_id)
    gone = entry_of(record)
    _delete_ids(session, [entry_id])
    licensee = get_licensee(session, licensee_id)
    changed(licensee, now)
    session.add(licensee)
    return gone


def _delete_ids(session: Session, ids: Sequence[str]) -> None:
    # Vectors explicitly: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        session.execute(delete(KbEntryVectors).where(col(KbEntryVectors.entry_id).in_(chunk)))
        session.execute(delete(KbEntryRecord).where(col(KbEntryRecord.id).in_(chunk)))


def replace_all(
    session: Session, licensee_id: str, rows: Sequence[KbRow], now: datetime
) -> ReplaceCounts:
    """Make ``rows`` the whole knowledge base: entries whose question is in ``rows`` are kept
    (with their ids and vectors) and updated, the others deleted, the new ones added. The
    caller commits once, so the replacement is all or nothing."""
    licensee = get_licensee(session, licensee_id)
    keep = {row.question for row in rows}
    stale = [
        r.id
        for r in session.exec(select(KbEntryRecord).where(KbEntryRecord.licensee_id == licensee_id))
        if r.question not in keep
    ]
    if stale:
        _delete_ids(session, stale)
        session.flush()
    counts: ImportCounts = import_rows(session, licensee_id, rows, now)
    if stale and not (counts.added or counts.updated):
        changed(licensee, now)  # import_rows bumped nothing, but entries went away
        session.add(licensee)
    return ReplaceCounts(counts.added, counts.updated, counts.unchanged, len(stale))


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: list[KbEntry]
    total: int  # entries matching the search
    offset: int
    limit: int


MAX_PAGE = 200


def search_entries(
    session: Session, licensee_id: str, query: str = "", offset: int = 0, limit: int = 50
) -> EntryPage:
    """One page of the entries whose texts contain ``query`` (case and width folded), oldest
    first. A knowledge base is read whole, as the index is built: thousands of entries, not
    millions, and the similar phrasings are matched as written."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput(
            f"a page holds 1 to {MAX_PAGE} entries from offset 0", code="kb.page", limit=MAX_PAGE
        )
    needle = match_key(query)
    entries = load_entries(session, licensee_id)
    if needle:
        entries = [
            e
            for e in entries
            if any(
                needle in match_key(text)
                for text in (e.question, e.answer, e.answer_en, *e.similar, *e.tags)
            )
        ]
    return EntryPage(entries[offset : offset + limit], len(entries), offset, limit)
