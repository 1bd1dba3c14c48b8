"""Knowledge-base changes made by a person, each with its audit entry in the same transaction:
the pages and the JSON API call these, so both write the same change and the same audit row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel import Session

from core import audit
from core.accounts import Principal
from core.db.engine import Database
from core.knowledge import editing
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.store import import_rows
from core.types import utcnow

Change = Callable[[Session, datetime], tuple[KbEntry | None, KbEntry | None]]


def _audited(
    db: Database, principal: Principal, licensee_id: str, action: str, change: Change
) -> KbEntry:
    """Run ``change(session, now) -> (before, after)`` with its audit entry (when it changed
    anything), in one commit; the entry after (or, deleted, before)."""
    with db.session() as session:
        now = utcnow()
        before, after = change(session, now)
        entry = after or before
        assert entry is not None
        if before != after:
            audit.record(
                session,
                actor=principal,
                action=action,
                target=entry.id,
                before=editing.entry_dict(before) if before else None,
                after=editing.entry_dict(after) if after else None,
                now=now,
                licensee_id=licensee_id,
            )
        session.commit()
    return entry


def add_entry(db: Database, principal: Principal, licensee_id: str, row: KbRow) -> KbEntry:
    return _audited(
        db,
        principal,
        licensee_id,
        "kb.entry.add",
        lambda s, now: (None, editing.add_entry(s, licensee_id, row, now)),
    )


def update_entry(
    db: Database, principal: Principal, licensee_id: str, entry_id: str, row: KbRow
) -> KbEntry:
    return _audited(
        db,
        principal,
        licensee_id,
        "kb.entry.edit",
        lambda s, now: editing.update_entry(s, licensee_id, entry_id, row, now),
    )


def delete_entry(db: Database, principal: Principal, licensee_id: str, entry_id: str) -> KbEntry:
    """Delete the entry; the deleted entry."""
    return _audited(
        db,
        principal,
        licensee_id,
        "kb.entry.delete",
        lambda s, now: (editing.delete_entry(s, licensee_id, entry_id, now), None),
    )


def teach(
    db: Database, principal: Principal, licensee_id: str, entry_id: str, phrasing: str
) -> KbEntry:
    """One more similar phrasing of an entry (an unanswered question)."""
    return _audited(
        db,
        principal,
        licensee_id,
        "kb.entry.teach",
        lambda s, now: editing.add_similar(s, licensee_id, entry_id, phrasing, now),
    )


def import_file(
    db: Database,
    principal: Principal,
    licensee_id: str,
    rows: Sequence[KbRow],
    *,
    replace: bool,
    rejected: int,
    source: dict[str, str],
) -> dict[str, int]:
    """Import a file's good rows (``replace``: they become the whole knowledge base); the
    counts added, updated, unchanged and deleted. ``source`` names the file in the audit row."""
    with db.session() as session:
        now = utcnow()
        if replace:
            r = editing.replace_all(session, licensee_id, rows, now)
            counts = {"added": r.added, "updated": r.updated, "unchanged": r.unchanged}
            counts["deleted"] = r.deleted
        else:
            c = import_rows(session, licensee_id, rows, now)
            counts = {"added": c.added, "updated": c.updated, "unchanged": c.unchanged}
            counts["deleted"] = 0
        audit.record(
            session,
            actor=principal,
            action="kb.replace" if replace else "kb.import",
            target=licensee_id,
            before=None,
            after={**source, **counts, "rejected": rejected},
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
    return counts
