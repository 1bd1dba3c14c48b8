"""Closing a lapsed licence: revoke it a month after its end, archive its data, then purge it.

PRODUCT.md ("Service period"): one month after the end date with no renewal the licence is
revoked (keys stop working) and, after an export is kept for the licensor, the licensee's
conversations, messages and knowledge base are purged; billing records stay.

Three steps, each recorded only once it is durable, so a crash anywhere is redone safely:
1. revoke: the status, the end of open units and a ``licence_closures`` row, one transaction
   (the row's unique (licensee, service end) makes a second revoker fail, not revoke twice);
2. archive: the zip is written and fsynced (core.licensing.archive), then its name and SHA-256
   are recorded; a crash before the record writes the same archive again;
3. purge: the deletes and ``purged_at`` in one transaction, only if the archive is recorded,
   the licence is still revoked and no renewal lifted the closure meanwhile.
Steps 2 and 3 run under a lease on the closure row (``claimed_by``/``claimed_until``, taken with
one conditional UPDATE): of several processes one works, the others skip it; a lease left by a
crashed process expires and another takes over.

The purge keeps each conversation row's billing fields (id, licensee, key, test flag, beyond
term, started, last activity, ended, end reason) and clears the visitor id; it deletes
messages, ratings, end users, idempotency keys, content-filter records and the knowledge base.
Model calls and token draws (the licensor's own costs) stay.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.chat import conversations
from core.chat.conversations import Ending
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import (
    ApiIdempotencyKey,
    ContentBlock,
    Conversation,
    EndUser,
    KbEntryRecord,
    LicenceClosure,
    LicenceStatus,
    Licensee,
    Message,
    Rating,
    table_of,
)
from core.ids import new_id
from core.licensing.archive import write_archive
from core.licensing.service_period import TermState, local_date, term_state

LEASE = timedelta(minutes=15)  # far longer than an archive takes; a crashed holder's wait
CLOSURES = table_of(LicenceClosure)
CL = CLOSURES.c


def worker_name() -> str:
    """Who holds a lease: host and process, for an operator reading the row."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id('w')[-6:]}"


@dataclass
class ClosureRun:
    """What one run did (each list holds licensee ids)."""

    revoked: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    endings: list[Ending] = field(default_factory=list)


def lapsed(licensee: Licensee, now: datetime) -> bool:
    today = local_date(now, licensee.timezone)
    return term_state(licensee.service_end, today) == TermState.LAPSED


def due_for_revocation(session: Session, now: datetime) -> list[str]:
    """Licensees past their lapse day and not revoked yet (each judged in its own zone)."""
    rows = session.exec(select(Licensee).where(Licensee.status != LicenceStatus.REVOKED))
    return [r.id for r in rows if lapsed(r, now)]


def revoke_lapsed(session: Session, licensee_id: str, now: datetime) -> list[Ending] | None:
    """Revoke the licence if it is still lapsed and not revoked, end its open units and record
    its closure; None when there is nothing to do. The caller commits once."""
    licensee = session.get(Licensee, licensee_id, with_for_update=True)
    if licensee is None or licensee.status == LicenceStatus.REVOKED or not lapsed(licensee, now):
        return None
    licensee.status = LicenceStatus.REVOKED
    licensee.updated_at = now  # the running servers close its sockets (the licence watcher)
    session.add(licensee)
    session.flush()
    endings = conversations.end_all_open(session, licensee_id, EndReason.SUSPENDED, now)
    existing = session.exec(
        select(LicenceClosure).where(
            LicenceClosure.licensee_id == licensee_id,
            LicenceClosure.service_end == licensee.service_end,
        )
    ).first()
    if existing is None:
        session.add(
            LicenceClosure(
                id=new_id("cls"),
                licensee_id=licensee_id,
                service_end=licensee.service_end,
                revoked_at=now,
            )
        )
    session.flush()
    return endings


def pending(session: Session) -> list[str]:
    """Closures not purged and not lifted by a renewal."""
    rows = session.exec(
        select(LicenceClosure.id)
        .where(col(LicenceClosure.purged_at).is_(None), col(LicenceClosure.lifted_at).is_(None))
        .order_by(col(LicenceClosure.revoked_at))
    )
    return list(rows)


def claim(session: Session, closure_id: str, worker: str, now: datetime) -> bool:
    """Take the closure's lease if nobody holds a live one; True if this worker has it."""
    result = session.execute(
        update(CLOSURES)
        .where(
            CL.id == closure_id,
            CL.purged_at.is_(None),
            CL.lifted_at.is_(None),
            (CL.claimed_until.is_(None)) | (CL.claimed_until < now) | (CL.claimed_by == worker),
        )
        .values(claimed_by=worker, claimed_until=now + LEASE)
        .returning(CL.id)
    )
    return result.first() is not None


def record_archive(
    session: Session, closure_id: str, worker: str, name: str, sha256: str, size: int, now: datetime
) -> bool:
    result = session.execute(
        update(CLOSURES)
        .where(CL.id == closure_id, CL.claimed_by == worker, CL.lifted_at.is_(None))
        .values(archive_name=name, archive_sha256=sha256, archive_bytes=size, archived_at=now)
        .returning(CL.id)
    )
    return result.first() is not None


def purge(session: Session, closure_id: str, worker: str, now: datetime) -> bool:
    """Delete the licensee's data and mark the closure purged, in the caller's one transaction;
    False (and nothing deleted) unless this worker holds the lease of an archived closure of a
    still-revoked licence."""
    closure = session.get(LicenceClosure, closure_id)
    if closure is None:
        return False
    marked = session.execute(
        update(CLOSURES)
        .where(
            CL.id == closure_id,
            CL.claimed_by == worker,
            CL.archived_at.is_not(None),
            CL.purged_at.is_(None),
            CL.lifted_at.is_(None),
        )
        .values(purged_at=now, claimed_until=None)
        .returning(CL.id)
    )
    if marked.first() is None:
        return False
    licensee = session.get(Licensee, closure.licensee_id, with_for_update=True)
    if licensee is None or licensee.status != LicenceStatus.REVOKED:
        session.rollback()
        return False
    lic = licensee.id
    for model in (Rating, Message, ApiIdempotencyKey, EndUser, ContentBlock, KbEntryRecord):
        table = table_of(model)
        session.execute(delete(table).where(table.c.licensee_id == lic))
    conv = table_of(Conversation)
    session.execute(update(conv).where(conv.c.licensee_id == lic).values(visitor_id=""))
    licensee.kb_version += 1  # running servers drop the licensee's index
    licensee.updated_at = now
    session.add(licensee)
    session.flush()
    return True


def run_due(db: Database, archive_dir: Path, worker: str, now: datetime) -> ClosureRun:
    """One pass: revoke every lapsed licence, then archive and purge every pending closure this
    worker can lease. Safe to run in several processes at once and after any downtime."""
    run = ClosureRun()
    with db.read_session() as session:
        due = due_for_revocation(session, now)
    for licensee_id in due:
        with db.session() as session:
            try:
                endings = revoke_lapsed(session, licensee_id, now)
                session.commit()
            except IntegrityError:  # another process revoked it first
                session.rollback()
                continue
        if endings is not None:
            run.revoked.append(licensee_id)
            run.endings.extend(endings)
    with db.read_session() as session:
        closures = pending(session)
    for closure_id in closures:
        close_one(db, closure_id, archive_dir, worker, now, run)
    return run


def close_one(
    db: Database, closure_id: str, archive_dir: Path, worker: str, now: datetime, run: ClosureRun
) -> None:
    with db.session() as session:
        if not claim(session, closure_id, worker, now):
            return
        session.commit()
    with db.read_session() as session:
        closure = session.get(LicenceClosure, closure_id)
        licensee = session.get(Licensee, closure.licensee_id) if closure else None
        if closure is None or licensee is None:
            return
        if closure.archived_at is None:
            written = write_archive(session, licensee, closure.service_end, archive_dir, now)
    if closure.archived_at is None:
        with db.session() as session:
            if not record_archive(
                session, closure_id, worker, written.path.name, written.sha256, written.size, now
            ):
                return
            session.commit()
        run.archived.append(closure.licensee_id)
    with db.session() as session:
        if purge(session, closure_id, worker, now):
            session.commit()
            run.purged.append(closure.licensee_id)
