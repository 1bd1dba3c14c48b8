"""Planned maintenance windows: announced at least a day ahead, shown and enforced per licensee."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.db.tables import MaintenanceWindow
from core.errors import InvalidInput
from core.ids import new_id

MIN_NOTICE = timedelta(days=1)
MAX_LENGTH = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Window:
    id: str
    licensee_id: str | None
    starts_at: datetime
    ends_at: datetime
    text: str

    def applies_to(self, licensee_id: str) -> bool:
        return self.licensee_id is None or self.licensee_id == licensee_id

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


def announce(
    session: Session,
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    text: str = "",
    licensee_id: str | None = None,
    forced_reason: str | None = None,
) -> Window:
    """Record a window; the licence promises at least one day's notice, so later is refused
    unless forced with a reason (urgent work: the reason goes to the audit log)."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput(
            "maintenance times need a time zone offset", code="maintenance.naive_time"
        )
    if forced_reason is not None and not 0 < len(forced_reason.strip()) <= 500:
        raise InvalidInput(
            "forcing short notice needs a reason of 1 to 500 characters",
            code="maintenance.force_reason",
        )
    if starts_at - now < MIN_NOTICE and forced_reason is None:
        raise InvalidInput(
            "maintenance must be announced at least 1 day before it starts"
            " (or forced, with a reason)",
            code="maintenance.short_notice",
        )
    if ends_at <= now:
        raise InvalidInput("this maintenance window is over already", code="maintenance.over")
    if not timedelta(0) < ends_at - starts_at <= MAX_LENGTH:
        raise InvalidInput(
            "a maintenance window ends after it starts and lasts at most 2 days",
            code="maintenance.length",
        )
    row = MaintenanceWindow(
        id=new_id("mw"),
        licensee_id=licensee_id,
        starts_at=starts_at,
        ends_at=ends_at,
        text=text.strip()[:500],
        created_at=now,
    )
    session.add(row)
    return _window(row)


def _window(row: MaintenanceWindow) -> Window:
    return Window(row.id, row.licensee_id, row.starts_at, row.ends_at, row.text)


def current_and_upcoming(session: Session, now: datetime) -> list[Window]:
    """Every window that has not ended yet, soonest first."""
    rows = session.exec(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.ends_at > now)
        .order_by(col(MaintenanceWindow.starts_at))
    )
    return [_window(r) for r in rows]


def for_licensee(
    windows: Sequence[Window], licensee_id: str, now: datetime
) -> tuple[Window | None, Window | None]:
    """(the window in force now, the next announced one) for one licensee."""
    mine = [w for w in windows if w.applies_to(licensee_id) and w.ends_at > now]
    active = next((w for w in mine if w.active(now)), None)
    upcoming = next((w for w in mine if w.starts_at > now), None)
    return active, upcoming
