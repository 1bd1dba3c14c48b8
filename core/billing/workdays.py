"""Chinese working days (weekends and public holidays off, make-up working days on), from the
``chinese-calendar`` package, which knows the State Council's holiday notice of each year."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar

from core.errors import InvalidInput

BASE_FEE_WORKING_DAYS = 5


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a Chinese working day; InvalidInput for a year the calendar does not
    know yet (the holidays of a year are announced in its previous November or December).

    No guess is made for such a year: a weekday may turn out to be a holiday and a Saturday a
    working day, so a guessed due date could be silently wrong. The operator updates the
    package (``pip install -U chinese-calendar``) or gives the due date by hand."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise InvalidInput(
            f"the Chinese holiday calendar does not cover {day.year} yet: update the"
            " chinese-calendar package, or give the due date by hand",
            code="billing.holidays_unknown",
            year=day.year,
        ) from None


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    if days < 1:
        raise ValueError("days >= 1")
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day
