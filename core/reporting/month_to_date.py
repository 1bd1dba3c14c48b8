"""This month's figures so far, per licensee (its own month and zone), for the console's home and
licensee pages: read from the daily figures, not from the conversations.

The daily figures hold every day up to the day of the last refresh (``core.reporting.daily``),
as of that refresh; the leader refreshes every minute, so they are at most that old. The days
after it (today, when no refresh has run since midnight; more if the jobs stopped) are computed
from the rows by the same code the refresh runs, reading only those days: a page costs a few
rows of figures per licensee and day, however many conversations the month had.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import date, datetime, timedelta

from sqlalchemy import func, literal, select
from sqlmodel import Session

from core.db.tables import DailyFigures, Licensee, table_of
from core.licensing.service_period import local_date, start_of_day
from core.reporting.daily import COUNTS, compute, last_refresh

_f, _lic = table_of(DailyFigures), table_of(Licensee)


def month_to_date(
    session: Session, now: datetime, licensee_ids: Collection[str] | None = None
) -> dict[str, Counter[str]]:
    """The named counts of ``core.reporting.daily.COUNTS`` (conversations, billable units,
    answered, "don't know", ...) of each licensee's month until ``now``, for ``licensee_ids``
    (None: every licensee). A licensee with nothing this month has an empty Counter."""
    return _month_to_date(session, now, licensee_ids, each=True)


def every_licensee(session: Session, now: datetime) -> Counter[str]:
    """Every licensee's month until ``now`` added up (the licensor's overview): the same
    figures as ``totals(month_to_date(session, now))``, summed in the database."""
    return _month_to_date(session, now, None, each=False)[ALL]


ALL = ""  # the key of the figures added up over every licensee


def _month_to_date(
    session: Session, now: datetime, licensee_ids: Collection[str] | None, each: bool
) -> dict[str, Counter[str]]:
    query = select(_lic.c.id, _lic.c.timezone)
    if licensee_ids is not None:
        if not licensee_ids:
            return {}
        query = query.where(_lic.c.id.in_(list(licensee_ids)))
    by_zone: defaultdict[str, list[str]] = defaultdict(list)
    for lic, tz in session.execute(query):
        by_zone[tz].append(lic)
    found: dict[str, Counter[str]] = {lic: Counter() for ids in by_zone.values() for lic in ids}
    if not each:
        found = {ALL: Counter()}
    mark = last_refresh(session)
    every = licensee_ids is None
    for tz, ids in by_zone.items():
        today = local_date(now, tz)
        first = today.replace(day=1)
        # The figures hold the days up to the last refresh's (in this zone), as of it.
        held = min(local_date(mark, tz), today) if mark is not None else first - timedelta(days=1)
        if held >= first:
            _add_figures(session, found, tz, ids, first, held, every, each)
        if held < today:
            zones = {lic: tz for lic in ids}
            start = start_of_day(max(held + timedelta(days=1), first), tz)
            rows = compute(session, zones, start, None, licensee_ids=ids)
            for (lic, _day), day in rows.items():
                found[lic if each else ALL].update(day.counts)
    return found


def _add_figures(
    session: Session,
    found: dict[str, Counter[str]],
    tz: str,
    ids: list[str],
    first: date,
    last: date,
    every: bool,
    each: bool,
) -> None:
    sums = [func.coalesce(func.sum(getattr(_f.c, name)), 0).label(name) for name in COUNTS]
    key = _f.c.licensee_id if each else literal(ALL)
    query = select(key.label("key"), *sums).where(_f.c.day >= first, _f.c.day <= last)
    if every:  # every licensee of the zone: a join, not a list of a thousand ids
        query = query.join(_lic, _lic.c.id == _f.c.licensee_id).where(_lic.c.timezone == tz)
    else:
        query = query.where(_f.c.licensee_id.in_(ids))
    if each:
        query = query.group_by(_f.c.licensee_id)
    for row in session.execute(query):
        found[row.key].update({n: int(getattr(row, n)) for n in COUNTS})


def totals(figures: dict[str, Counter[str]]) -> Counter[str]:
    """Every licensee's counts added up."""
    total: Counter[str] = Counter()
    for counts in figures.values():
        total.update(counts)
    return total
