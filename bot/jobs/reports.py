"""The reports job, run by the leader: recomputes the daily figures of the days that can have
changed since its last run (core/reporting/daily.py), in one transaction."""

from __future__ import annotations

from core.db.engine import Database
from core.reporting.daily import refresh
from core.types import utcnow


def refresh_reports(db: Database) -> int:
    """One refresh; returns the licensee-days stored."""
    with db.session() as session:
        stored = refresh(session, utcnow())
        session.commit()
    return stored
