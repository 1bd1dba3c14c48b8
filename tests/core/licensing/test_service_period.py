"""The term rules on exact days: beyond term, the lapse day, and a unit's beyond-term flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from core.licensing.service_period import (
    TermState,
    is_beyond_term,
    lapse_day,
    start_of_day,
    term_state,
)


@dataclass
class Licence:
    service_end: date
    timezone: str = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("end", "last_beyond", "lapsed"),
    [
        (date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 1)),
        (date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 1)),
        (date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 1)),  # a leap year
        (date(2026, 6, 15), date(2026, 7, 15), date(2026, 7, 16)),
        (date(2026, 12, 31), date(2027, 1, 31), date(2027, 2, 1)),
    ],
)
def test_beyond_term_through_the_same_day_a_month_later_revoked_the_next(
    end: date, last_beyond: date, lapsed: date
) -> None:
    assert term_state(end, end) == TermState.IN_TERM
    assert term_state(end, date.fromordinal(end.toordinal() + 1)) == TermState.BEYOND_TERM
    assert term_state(end, last_beyond) == TermState.BEYOND_TERM
    assert term_state(end, lapsed) == TermState.LAPSED
    assert lapse_day(end) == lapsed


def test_a_unit_is_beyond_term_from_the_day_after_the_end_in_the_licensees_zone() -> None:
    licence = Licence(date(2026, 1, 31))
    # 2026-01-31 23:59 in Shanghai is 15:59 UTC: still in term.
    assert not is_beyond_term(licence, datetime(2026, 1, 31, 15, 59, tzinfo=UTC))
    # 16:00 UTC is midnight of 02-01 in Shanghai: beyond term, though still 01-31 in UTC.
    assert is_beyond_term(licence, datetime(2026, 1, 31, 16, 0, tzinfo=UTC))
    west = Licence(date(2026, 1, 31), "America/New_York")
    assert not is_beyond_term(west, datetime(2026, 2, 1, 4, 59, tzinfo=UTC))
    assert is_beyond_term(west, datetime(2026, 2, 1, 5, 0, tzinfo=UTC))


def test_a_naive_start_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_beyond_term(Licence(date(2026, 1, 31)), datetime(2026, 2, 1))


def test_start_of_day_is_local_midnight() -> None:
    assert start_of_day(date(2026, 3, 1), "Asia/Shanghai") == datetime(2026, 2, 28, 16, tzinfo=UTC)
