"""Issuing at once from several processes' connections: one statement, one number, no gaps.

Each thread has its own engine (its own connections and transactions), as separate processes
would; a barrier starts them together. On PostgreSQL the row lock and the counter row decide;
on SQLite the database lock does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlmodel import select

from bot.jobs.billing import run_billing
from core.billing import issued
from core.db.engine import Database
from core.db.tables import Statement, StatementItem, StatementStatus
from testkit.billing import add_units
from testkit.tenants import MakeTenant

T = TypeVar("T")
ISSUE_AT = datetime(2026, 4, 2, 3, tzinfo=UTC)


def together(url: str, count: int, work: Callable[[Database], T]) -> list[T]:
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        database = Database(url, sqlite_synchronous="NORMAL")
        try:
            barrier.wait()
            results.append(work(database))
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return results


def test_one_statement_one_number_when_issued_at_once(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    ids = [
        make_tenant(
            f"Shop {n}",
            now=datetime(2026, 1, 1, tzinfo=UTC),
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
            unit_price=Decimal("0.50"),
        ).licensee.id
        for n in range(3)
    ]
    for lid in ids:
        add_units(db, lid, [datetime(2026, 3, 3, 3, tzinfo=UTC)] * 50)

    def issue_all(database: Database) -> list[tuple[str, bool]]:
        out = []
        for lid in ids:
            with database.session() as session:
                result = issued.issue_month(session, lid, "2026-03", ISSUE_AT)
                session.commit()
                out.append((lid, result.created))
        return out

    results = together(db_url, 4, issue_all)
    created = [lid for run in results for lid, made in run if made]
    assert sorted(created) == sorted(ids)  # each issued by exactly one of the four
    with db.read_session() as session:
        rows = session.exec(select(Statement)).all()
        assert len(rows) == 3 and {r.status for r in rows} == {StatementStatus.ISSUED}
        assert sorted(r.number_seq for r in rows) == [1, 2, 3]  # type: ignore[type-var]
        assert len(session.exec(select(StatementItem)).all()) == 150  # items once, not four times


def test_billing_jobs_of_several_processes_do_everything_once(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    lid = make_tenant(
        "Job", now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 10), end=date(2026, 12, 31)
    ).licensee.id
    add_units(db, lid, [datetime(2026, 2, 3, 3, tzinfo=UTC)] * 3)
    # Down since January: the first run catches up January to March, all three issued.
    now = datetime(2026, 4, 10, 3, tzinfo=UTC)
    runs = together(db_url, 3, lambda database: run_billing(database, now, 3))
    issued_months = sorted(m for run in runs for _, m in run.issued)
    assert issued_months == ["2026-01", "2026-02", "2026-03"]
    assert all(run.failures == [] for run in runs)
    with db.read_session() as session:
        seqs = sorted(r.number_seq for r in session.exec(select(Statement)).all())  # type: ignore[type-var]
    assert seqs == [1, 2, 3]
