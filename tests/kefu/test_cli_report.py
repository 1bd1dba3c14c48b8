"""``kefu report rebuild``: figures repaired from the rows, one licensee or all, a range; clean
errors for bad dates and unknown licensees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import col
from typer.testing import Result

from core.db.engine import Database
from core.db.tables import DailyFigures
from testkit.billing import add_units
from testkit.cli import assert_clean_error, one_json
from testkit.tenants import ORIGIN

Kefu = Callable[..., Result]
T0 = datetime(2026, 11, 2, 4, tzinfo=UTC)


def test_rebuild_restores_figures_and_refuses_bad_input(kefu: Kefu, cli_url: str) -> None:
    made = one_json(kefu("licensee", "create", "--name", "Shop", "--origin", ORIGIN, "--json"))
    lid = made["id"]
    db = Database(cli_url)
    try:
        add_units(db, lid, [T0, T0 + timedelta(hours=1), T0 + timedelta(days=1)])
        assert one_json(kefu("report", "rebuild", "--json")) == {"licensees": 1, "days": 2}
        with db.session() as s:
            s.execute(delete(DailyFigures).where(col(DailyFigures.day) == date(2026, 11, 2)))
            s.commit()
        only = kefu(
            "report", "rebuild", "--licensee", lid, "--from", "2026-11-02", "--to", "2026-11-02"
        )
        assert "rebuilt 1 licensee-days of 1 licensees" in only.stdout
        with db.read_session() as s:
            rows = s.execute(select(col(DailyFigures.day), col(DailyFigures.conversations))).all()
        assert sorted(rows) == [(date(2026, 11, 2), 2), (date(2026, 11, 3), 1)]
    finally:
        db.close()
    for bad in (
        ["--from", "2026-11-3"],
        ["--from", "2026-11-03", "--to", "2026-11-01"],
        ["--licensee", "lic_nope"],
    ):
        assert_clean_error(kefu("report", "rebuild", *bad, ok=False))
