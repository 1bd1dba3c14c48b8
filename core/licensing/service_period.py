"""The service period of a licence, in the licensee's own time zone (pure functions)."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from enum import StrEnum
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
        raise InvalidInput(f"unknown time zone: {name!r}") from None


def local_date(moment: datetime, tz: str) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_state(service_end: date, today: date) -> TermState:
    if today <= service_end:
        return TermState.IN_TERM
    if today <= add_months(service_end, 1):
        return TermState.BEYOND_TERM
    return TermState.LAPSED


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of ``YYYY-MM`` in the licensee's zone, as aware datetimes."""
    # A strict pattern, not int(): int() also takes "+1", "2_26", spaces and full-width digits.
    match = _MONTH.fullmatch(month)
    if match is None:
        raise InvalidInput(f"month must be YYYY-MM, got {month!r}")
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
