"""The date range a report page or API call asks for: ``month=YYYY-MM`` or ``from``/``to``
(YYYY-MM-DD); by default the current month so far, in the reader's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.errors import InvalidInput
from core.licensing.service_period import add_months, local_date, month_bounds
from core.reporting.figures import check_range


@dataclass(frozen=True, slots=True)
class DateRange:
    first: date
    last: date

    @property
    def month(self) -> str:
        """The month the range lies in ('' when it spans months)."""
        same = (self.first.year, self.first.month) == (self.last.year, self.last.month)
        return f"{self.first:%Y-%m}" if same else ""

    @property
    def query(self) -> str:
        return f"from={self.first}&to={self.last}"

    def shifted(self, months: int) -> DateRange:
        """The whole month ``months`` away from this range's first month."""
        first = add_months(self.first.replace(day=1), months)
        return DateRange(first, add_months(first, 1) - timedelta(days=1))


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be YYYY-MM-DD, got {value!r}", code="form.date", field=name, value=value
        ) from None


def parse_range(
    month: str | None, first: str | None, last: str | None, now: datetime, tz: str
) -> DateRange:
    """The range asked for; InvalidInput (400) for a malformed or backwards one."""
    if first or last:
        today = local_date(now, tz)
        lo = _day(first, "from") if first else today.replace(day=1)
        hi = _day(last, "to") if last else today
        check_range(lo, hi)
        return DateRange(lo, hi)
    if month:
        start, _end = month_bounds(month, tz)
        lo = start.date()
        return DateRange(lo, add_months(lo, 1) - timedelta(days=1))
    today = local_date(now, tz)
    return DateRange(today.replace(day=1), today)
