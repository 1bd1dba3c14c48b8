"""Importing into the knowledge base: added, updated and unchanged rows are counted apart."""

from __future__ import annotations

from datetime import UTC, datetime

from core.db.engine import Database
from core.db.tables import Licensee
from core.knowledge.entries import KbRow
from core.knowledge.store import ImportCounts, import_rows
from testkit.tenants import MakeTenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETURNS = KbRow("How do I return an item?", "Within 7 days.", ("refund",), ("after-sales",))
SHIPPING = KbRow("运费多少？", "满99元包邮。", ("包邮吗",), ())


def kb_version(db: Database, licensee_id: str) -> int:
    with db.read_session() as session:
        licensee = session.get(Licensee, licensee_id)
        assert licensee is not None
        return licensee.kb_version


def test_a_reimport_counts_its_rows_unchanged_and_moves_no_version(
    db: Database, make_tenant: MakeTenant
) -> None:
    shop = make_tenant("Shop", now=NOW).licensee.id

    def load(rows: list[KbRow]) -> ImportCounts:
        with db.session() as session:
            counts = import_rows(session, shop, rows, NOW)
            session.commit()
        return counts

    assert load([RETURNS, SHIPPING]) == ImportCounts(added=2, updated=0, unchanged=0)
    version = kb_version(db, shop)
    assert load([RETURNS, SHIPPING]) == ImportCounts(added=0, updated=0, unchanged=2)
    assert kb_version(db, shop) == version  # nothing to rebuild
    changed = KbRow(RETURNS.question, "Within 30 days.", RETURNS.similar, RETURNS.tags)
    assert load([changed, SHIPPING]) == ImportCounts(added=0, updated=1, unchanged=1)
    assert kb_version(db, shop) == version + 1
