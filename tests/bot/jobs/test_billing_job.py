"""The billing job with ``now`` passed in: a draft from the 1st, issued after the grace period,
suspension on day 16 of arrears, catching up after downtime, nothing done twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.jobs.billing import months_to_bill, run_billing
from core.db.engine import Database
from core.db.tables import LicenceStatus, Licensee, Statement, StatementStatus
from testkit.billing import add_units
from testkit.tenants import MakeTenant

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[arg-type, misc]


def statements(db: Database) -> dict[str, tuple[str, int | None]]:
    with db.read_session() as session:
        return {s.period: (s.status, s.number_seq) for s in session.exec(select(Statement))}


def test_draft_on_the_first_issue_after_grace_suspend_on_day_16(
    db: Database, make_tenant: MakeTenant
) -> None:
    lid = make_tenant(
        "Job",
        now=datetime(2026, 3, 1, tzinfo=UTC),
        start=date(2026, 3, 1),
        end=date(2027, 2, 28),
        unit_price=Decimal("2.00"),
    ).licensee.id
    add_units(db, lid, [at(2026, 3, 31, 23, 59)] * 5)
    assert run_billing(db, at(2026, 3, 31, 23, 59), 3).drafts == []  # March is not over
    first = run_billing(db, at(2026, 4, 1, 0, 0), 3)
    assert first.drafts == [(lid, "2026-03")] and first.issued == []
    assert statements(db) == {"2026-03": (StatementStatus.DRAFT, None)}
    # A unit still open at the month's end belongs to March and is in the draft.
    add_units(db, lid, [at(2026, 3, 31, 23, 59, 59)], open_=True)
    assert run_billing(db, at(2026, 4, 3, 23, 59), 3).issued == []  # grace: 3 days
    fourth = run_billing(db, at(2026, 4, 4, 0, 0), 3)
    assert fourth.issued == [(lid, "2026-03")]
    assert statements(db) == {"2026-03": (StatementStatus.ISSUED, 1)}
    with db.read_session() as session:
        assert session.exec(select(Statement)).one().total == Decimal("12.00")
    assert run_billing(db, at(2026, 4, 4, 0, 1), 3).issued == []  # never twice
    assert run_billing(db, at(2026, 4, 20, 12), 3).licence_changes == []  # day 15
    assert run_billing(db, at(2026, 4, 21, 0, 0), 3).licence_changes == [(lid, "suspended")]
    with db.read_session() as session:
        assert session.get(Licensee, lid).status == LicenceStatus.SUSPENDED  # type: ignore[union-attr]


def test_months_to_bill_catch_up_and_stop_after_the_end() -> None:
    lic = Licensee(
        id="l",
        name="n",
        service_start=date(2026, 1, 20),
        service_end=date(2026, 3, 10),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert months_to_bill(lic, date(2026, 1, 31)) == []
    assert months_to_bill(lic, date(2026, 4, 2)) == ["2026-01", "2026-02", "2026-03"]
    assert months_to_bill(lic, date(2027, 1, 1)) == [
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
    ]
