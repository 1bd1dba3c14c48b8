"""Operations from the console: maintenance windows, outages and the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core import audit
from core.accounts import Principal
from core.db.tables import AuditEntry
from core.licensing.licensees import get_licensee
from core.licensing.maintenance import Window, announce
from core.licensing.outages import Affected, record_outage
from core.licensing.service_period import DEFAULT_TIMEZONE, zone
from core.spreadsheet import csv_bytes


def announce_window(
    session: Session,
    actor: Principal,
    now: datetime,
    *,
    starts_at: datetime,
    ends_at: datetime,
    text: str,
    licensee_id: str | None,
    forced_reason: str | None,
) -> Window:
    if licensee_id:
        get_licensee(session, licensee_id)
    window = announce(
        session,
        starts_at=starts_at,
        ends_at=ends_at,
        now=now,
        text=text,
        licensee_id=licensee_id or None,
        forced_reason=forced_reason,
    )
    after = {
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "text": window.text,
        "licensee_id": window.licensee_id,
        "forced_reason": forced_reason,
    }
    audit.record(
        session,
        actor=actor,
        action="maintenance.forced" if forced_reason else "maintenance.announced",
        target=window.id,
        before=None,
        after=after,
        now=now,
        licensee_id=licensee_id or None,
    )
    return window


def record(
    session: Session,
    actor: Principal,
    now: datetime,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    licensee_ids: Sequence[str] | None,
) -> tuple[str, list[Affected]]:
    outage, affected = record_outage(
        session,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        licensee_ids=licensee_ids,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="outage.recorded",
        target=outage.id,
        before=None,
        after={
            "starts_at": starts_at,
            "ends_at": ends_at,
            "reason": outage.reason,
            "all": licensee_ids is None,
            "days_added": {a.licensee_id: a.days_added for a in affected},
        },
        now=now,
    )
    return outage.id, affected


# Past the last entry either way; what a 64-bit OFFSET (PostgreSQL's bigint, SQLite's integer)
# holds with room to spare, so an absurd ``?offset=`` reads an empty page, never a server error.
MAX_OFFSET = 2**62


@dataclass(frozen=True)
class AuditQuery:
    licensee_id: str | None = None
    action: str | None = None  # an exact action or a prefix ending in "." ("licensee.")
    actor: str | None = None  # part of the actor's email
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def _filtered(query: AuditQuery) -> SelectOfScalar[AuditEntry]:
    statement = select(AuditEntry)
    if query.licensee_id:
        statement = statement.where(AuditEntry.licensee_id == query.licensee_id)
    if query.action:
        if query.action.endswith("."):
            statement = statement.where(col(AuditEntry.action).startswith(query.action))
        else:
            statement = statement.where(AuditEntry.action == query.action)
    if query.actor:
        statement = statement.where(
            func.lower(AuditEntry.actor_email).contains(query.actor.strip().lower())
        )
    if query.since:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until:
        statement = statement.where(AuditEntry.at < query.until)
    return statement


def entries(session: Session, query: AuditQuery) -> list[AuditEntry]:
    """Newest first."""
    statement = _filtered(query)
    return list(
        session.exec(
            statement.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            .offset(min(max(query.offset, 0), MAX_OFFSET))
            .limit(query.limit)
        )
    )


AUDIT_COLUMNS = ("at", "actor", "role", "action", "target", "licensee", "before", "after")


def audit_csv(session: Session, query: AuditQuery, timezone: str = DEFAULT_TIMEZONE) -> bytes:
    """The entries as CSV (oldest first), cells neutralised against formula injection; each
    time in ISO 8601 with its offset, in the reader's ``timezone``."""
    tz = zone(timezone)
    rows = sorted(entries(session, query), key=lambda e: (e.at, e.id or 0))
    return csv_bytes(
        AUDIT_COLUMNS,
        (
            (
                e.at.astimezone(tz),
                e.actor_email,
                e.actor_role,
                e.action,
                e.target,
                e.licensee_id,
                "" if e.before is None else json.dumps(e.before, ensure_ascii=False),
                "" if e.after is None else json.dumps(e.after, ensure_ascii=False),
            )
            for e in rows
        ),
    )
