"""This month's figures of the home and licensee pages: read from the daily figures plus the
rows of the days after the last refresh, and always equal to what the rows say."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from core.db.engine import Database
from core.reporting.daily import rebuild, refresh
from core.reporting.month_to_date import every_licensee, month_to_date, totals
from core.reporting.units import units_this_month
from testkit.reporting import key_of, message, start_conversation
from testkit.tenants import MakeTenant

NOW = datetime(2026, 11, 20, 4, tzinfo=UTC)  # 12:00 on the 20th in Shanghai, 05:00 in Berlin
SOURCE = [{"id": "kb_1", "question": "q"}]


def _traffic(db: Database, lic: str, since: datetime, hours: int) -> Counter[str]:
    """A conversation every 7 hours from ``since`` for ``hours``: one in 3 a test, each with a
    question and an answer (one in 4 "don't know"); what the month's figures must add up to."""
    made: Counter[str] = Counter()
    with db.session() as s:
        key = key_of(s, lic)
        for n, h in enumerate(range(0, hours, 7)):
            at = since + timedelta(hours=h)
            conv = start_conversation(s, lic, key, at, test=n % 3 == 0)
            message(s, conv, lic, 1, "visitor", at)
            message(s, conv, lic, 2, "robot", at + timedelta(seconds=2), [] if n % 4 else SOURCE)
            made.update(
                conversations=1,
                billable_units=0 if n % 3 == 0 else 1,
                replies=1,
                answered=0 if n % 4 else 1,
                dont_know=1 if n % 4 else 0,
            )
        s.commit()
    return made


def _nonzero(counts: Counter[str]) -> Counter[str]:
    return Counter({k: v for k, v in counts.items() if v})


def test_the_months_figures_equal_the_rows_before_and_after_refreshes(
    db: Database, make_tenant: MakeTenant
) -> None:
    shanghai = make_tenant(now=NOW - timedelta(days=90)).licensee.id
    berlin = make_tenant(
        "Berlin", now=NOW - timedelta(days=90), timezone="Europe/Berlin"
    ).licensee.id
    # October in Shanghai (the 31st, 23:00 local) and Berlin: not this month.
    _traffic(db, shanghai, datetime(2026, 10, 31, 15, tzinfo=UTC), 1)
    _traffic(db, berlin, datetime(2026, 10, 31, 22, tzinfo=UTC), 1)
    first_sh = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 1 November, 00:00 in Shanghai
    first_be = datetime(2026, 10, 31, 23, tzinfo=UTC)  # 1 November, 00:00 in Berlin
    want = {
        shanghai: _traffic(db, shanghai, first_sh, int((NOW - first_sh).total_seconds() // 3600)),
        berlin: _traffic(db, berlin, first_be, int((NOW - first_be).total_seconds() // 3600)),
    }

    def read(now: datetime) -> dict[str, Counter[str]]:
        found = db.read(lambda s: month_to_date(s, now))
        return {lic: _nonzero(c) for lic, c in found.items()}

    assert read(NOW) == want  # never refreshed: all from the rows
    with db.session() as s:
        refresh(s, NOW)
        s.commit()
    assert read(NOW) == want  # all from the daily figures
    # The next day, before any refresh: the figures up to the 20th, the 21st from the rows.
    tomorrow = NOW + timedelta(days=1)
    added: Counter[str] = Counter()  # the 21st's
    for lic in (shanghai, berlin):
        today = _traffic(db, lic, NOW + timedelta(hours=20), 8)
        want[lic] += today
        added += today
    assert read(tomorrow) == want
    # A rebuild that wrote the 21st before the next refresh counts it once.
    with db.session() as s:
        rebuild(s, tomorrow)
        s.commit()
    assert read(tomorrow) == want
    both = want[shanghai] + want[berlin]
    assert _nonzero(db.read(lambda s: totals(month_to_date(s, tomorrow)))) == both
    assert _nonzero(db.read(lambda s: every_licensee(s, tomorrow))) == both
    assert _nonzero(db.read(lambda s: every_licensee(s, NOW))) == both - added
    units = db.read(lambda s: units_this_month(s, [s.get_one(_licensee(), shanghai)], tomorrow))
    assert units == {shanghai: want[shanghai]["billable_units"]}


def _licensee() -> type:
    from core.db.tables import Licensee

    return Licensee
