"""Outages: recording one extends each affected licensee's service end; availability per month.

Lengths are exact (``timedelta`` is whole microseconds). Service dates are whole days, so the
extension is the licensee's total outage time rounded up to whole days, counted over the licence
(the union of its outages, so overlapping records count once): the first minute of outage adds a
day, the next 23 h 59 min add nothing more. Rounding up, because compensation must never be less
than the outage; cumulative, so that many short outages do not each add a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from core.db.tables import LicenceStatus, Licensee, Outage, OutageLicensee
from core.errors import InvalidInput
from core.ids import new_id
from core.licensing.licensees import get_licensee
from core.licensing.service_period import lapse_day, month_bounds, start_of_day

DAY = timedelta(days=1)
MAX_REASON_CHARS = 500
Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Affected:
    licensee_id: str
    outage_time: timedelta  # this outage's time within the licensee's service
    days_added: int
    service_end: str  # the new end, ISO


@dataclass(frozen=True, slots=True)
class Availability:
    licensee_id: str
    name: str
    month: str
    served: timedelta  # the part of the month the licence was in service (up to now)
    down: timedelta
    percent: Decimal | None  # None when it was not in service at all that month


def union_length(intervals: Iterable[Interval]) -> timedelta:
    """The length of the union of ``intervals`` (overlaps counted once)."""
    total, end = timedelta(0), None
    for lo, hi in sorted(intervals):
        if end is None or lo > end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def clip(intervals: Iterable[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo)]


def whole_days(length: timedelta) -> int:
    """``length`` rounded up to whole days."""
    return -(-length // DAY)


def licensee_outages(session: Session, licensee_id: str) -> list[Interval]:
    rows = session.exec(
        select(Outage.starts_at, Outage.ends_at)
        .join(OutageLicensee, col(OutageLicensee.outage_id) == col(Outage.id))
        .where(OutageLicensee.licensee_id == licensee_id)
    ).all()
    return [(a, b) for a, b in rows]


def _served_from(licensee: Licensee) -> datetime:
    return start_of_day(licensee.service_start, licensee.timezone)


def record_outage(
    session: Session,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    licensee_ids: Sequence[str] | None,
    now: datetime,
) -> tuple[Outage, list[Affected]]:
    """Record an outage of the listed licensees (``None``: every licensee not revoked) and move
    each one's service end by the whole days its total outage time grew by."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("an outage's times need a time zone offset", code="outage.naive_time")
    if ends_at <= starts_at:
        raise InvalidInput("an outage ends after it starts", code="outage.ends_before_start")
    if ends_at > now:
        raise InvalidInput(
            "an outage is recorded once it is over (--to is in the future); planned work is"
            " announced with kefu maintenance announce",
            code="outage.not_over",
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(
            f"an outage needs a reason of 1 to {MAX_REASON_CHARS} characters",
            code="outage.reason_length",
            limit=MAX_REASON_CHARS,
        )
    if licensee_ids is None:
        licensees = list(
            session.exec(
                select(Licensee)
                .where(Licensee.status != LicenceStatus.REVOKED)
                .order_by(col(Licensee.created_at))
            )
        )
    else:
        if not licensee_ids:
            raise InvalidInput(
                "name the affected licensees (--licensee ID) or --all", code="outage.no_licensees"
            )
        licensees = [get_licensee(session, i) for i in dict.fromkeys(licensee_ids)]
        for licensee in licensees:
            if licensee.status == LicenceStatus.REVOKED:
                raise InvalidInput(
                    f"{licensee.id} is revoked: an outage cannot extend it",
                    code="outage.revoked",
                    id=licensee.id,
                )
            if ends_at <= _served_from(licensee):
                raise InvalidInput(
                    f"the outage ended before {licensee.id}'s service started",
                    code="outage.before_service",
                    id=licensee.id,
                )
    outage = Outage(
        id=new_id("out"),
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        all_licensees=licensee_ids is None,
        created_at=now,
    )
    session.add(outage)
    session.flush()
    affected = []
    for licensee in licensees:
        served_from = _served_from(licensee)
        mine = clip([(starts_at, ends_at)], served_from, ends_at)
        if not mine:  # --all: the licensee's service had not started yet
            continue
        before = clip(licensee_outages(session, licensee.id), served_from, now)
        days = whole_days(union_length(before + mine)) - whole_days(union_length(before))
        session.add(OutageLicensee(outage_id=outage.id, licensee_id=licensee.id, days_added=days))
        if days:
            licensee.service_end = licensee.service_end + timedelta(days=days)
            licensee.updated_at = now
            session.add(licensee)
        affected.append(
            Affected(licensee.id, union_length(mine), days, licensee.service_end.isoformat())
        )
    session.flush()
    return outage, affected


def list_outages(session: Session) -> list[tuple[Outage, list[OutageLicensee]]]:
    outages = list(session.exec(select(Outage).order_by(col(Outage.starts_at))))
    links = session.exec(select(OutageLicensee).order_by(col(OutageLicensee.licensee_id))).all()
    by_outage: dict[str, list[OutageLicensee]] = {}
    for link in links:
        by_outage.setdefault(link.outage_id, []).append(link)
    return [(o, by_outage.get(o.id, [])) for o in outages]


def percent(up: timedelta, served: timedelta) -> Decimal:
    """``up / served`` as a percentage to 0.001, rounded down: exact integer arithmetic, and a
    month with any outage never shows as 100.000."""
    thousandths = (
        (up // timedelta(microseconds=1)) * 100_000 // (served // timedelta(microseconds=1))
    )
    return Decimal(thousandths).scaleb(-3)


def availability(
    session: Session, month: str, now: datetime, licensee_ids: Sequence[str] | None = None
) -> list[Availability]:
    """Each licensee's availability in ``month`` (YYYY-MM of its own zone): the share of the
    time it was in service (from its start date to its lapse day, a month and a day after its
    end; up to now for the current month) that no recorded outage of it covered."""
    if licensee_ids is None:
        licensees = list(session.exec(select(Licensee).order_by(col(Licensee.created_at))))
    else:
        licensees = [get_licensee(session, i) for i in dict.fromkeys(licensee_ids)]
    report = []
    for licensee in licensees:
        first, after = month_bounds(month, licensee.timezone)
        served_until = start_of_day(lapse_day(licensee.service_end), licensee.timezone)
        lo, hi = max(first, _served_from(licensee)), min(after, now, served_until)
        if hi <= lo:
            report.append(Availability(licensee.id, licensee.name, month, DAY * 0, DAY * 0, None))
            continue
        down = union_length(clip(licensee_outages(session, licensee.id), lo, hi))
        served = hi - lo
        report.append(
            Availability(
                licensee.id, licensee.name, month, served, down, percent(served - down, served)
            )
        )
    return report
