"""The service period of a licence, in the licensee's own time zone (pure functions)."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInput

DEFAULT_TIMEZONE = "Asia/Shanghai"
_MONTH = re.compile(r"(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])", re.ASCII)


class TermState(StrEnum):
    IN_TERM = "in_term"
    BEYOND_TERM = "beyond_term"  # still served and billed at the same terms, but flagged
    LAPSED = "lapsed"  # a month past the end with no renewal: the licence is revoked


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone: {name!r}", code="zone.unknown", name=name) from None


def local_date(moment: datetime, tz: str) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class HasTerm(Protocol):
    """What the term rules read of a licence (a ``Licensee`` row has both)."""

    @property
    def service_end(self) -> date: ...

    @property
    def timezone(self) -> str: ...


def term_state(service_end: date, today: date) -> TermState:
    if today <= service_end:
        return TermState.IN_TERM
    if today <= add_months(service_end, 1):
        return TermState.BEYOND_TERM
    return TermState.LAPSED


def lapse_day(service_end: date) -> date:
    """The first day of the licensee's zone on which the licence is revoked: the day after the
    same day a month after the end (end 2026-01-31: beyond term up to 2026-02-28, revoked from
    2026-03-01)."""
    return add_months(service_end, 1) + timedelta(days=1)


def is_beyond_term(licence: HasTerm, started_at: datetime) -> bool:
    """Whether a unit that started at ``started_at`` started after the licence's current end
    date (both read in the licensee's zone). Conversation rows carry the same judgement as it
    stood when each unit started (``conversations.beyond_term``): a later renewal does not
    change what a unit was when it was served."""
    return local_date(started_at, licence.timezone) > licence.service_end


def start_of_day(day: date, tz: str) -> datetime:
    """Midnight at the start of ``day`` in the zone ``tz``, as an aware datetime."""
    return datetime.combine(day, time(0), zone(tz))


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of ``YYYY-MM`` in the licensee's zone, as aware datetimes."""
    # A strict pattern, not int(): int() also takes "+1", "2_26", spaces and full-width digits.
    match = _MONTH.fullmatch(month)
    if match is None:
        raise InvalidInput(
            f"month must be YYYY-MM, got {month!r}", code="month.malformed", month=month
        )
    first = date(int(match[1]), int(match[2]), 1)
    tzinfo = zone(tz)
    start = datetime.combine(first, time(0), tzinfo)
    end = datetime.combine(add_months(first, 1), time(0), tzinfo)
    return start, end


def month_of(moment: datetime, tz: str) -> str:
    return local_date(moment, tz).strftime("%Y-%m")


def default_period(today: date, years: int = 1) -> tuple[date, date]:
    """A one-year licence starting today: both dates inclusive."""
    return today, add_months(today, 12 * years) - timedelta(days=1)
