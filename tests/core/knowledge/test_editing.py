"""Editing a knowledge base entry by entry and replacing it whole, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from core.db.engine import Database
from core.db.tables import KbEntryVectors, Licensee
from core.errors import Conflict, InvalidInput, NotFound
from core.knowledge import editing
from core.knowledge.entries import KbRow
from core.knowledge.files import check_row
from core.knowledge.store import import_rows, load_entries
from core.knowledge.vectors import StoredVectors, save_vectors
from testkit.tenants import MakeTenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REFUND = KbRow(
    "如何退款？", "在订单页申请退款。", ("怎么退钱",), ("售后",), "Request it on the order page."
)
HOURS = KbRow("营业时间？", "每天 9:00-18:00。")


def version(db: Database, licensee_id: str) -> int:
    with db.read_session() as s:
        lic = s.get(Licensee, licensee_id)
        assert lic is not None
        return lic.kb_version


def seed(db: Database, licensee_id: str, rows: list[KbRow]) -> None:
    with db.session() as s:
        import_rows(s, licensee_id, rows, NOW)
        s.commit()


def store_vectors(db: Database, licensee_id: str) -> None:
    with db.session() as s:
        vectors = {e.id: StoredVectors("f", 1, b"\0\0\0\0") for e in load_entries(s, licensee_id)}
        save_vectors(s, licensee_id, "enc", vectors, NOW)
        s.commit()


def vector_ids(db: Database) -> set[str]:
    with db.read_session() as s:
        return set(s.exec(select(KbEntryVectors.entry_id)))


def test_add_update_delete_each_bump_the_version(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    v0 = version(db, lic)
    with db.session() as s:
        added = editing.add_entry(s, lic, REFUND, NOW)
        s.commit()
    assert version(db, lic) == v0 + 1
    changed = KbRow("如何退款？", "联系客服退款。", ("退款流程",))
    with db.session() as s:
        before, after = editing.update_entry(s, lic, added.id, changed, NOW)
        s.commit()
    assert before.answer == REFUND.answer and after.answer == "联系客服退款。"
    assert version(db, lic) == v0 + 2
    with db.session() as s:  # the same texts again change nothing, not even the version
        editing.update_entry(s, lic, added.id, changed, NOW)
        s.commit()
    assert version(db, lic) == v0 + 2
    store_vectors(db, lic)
    with db.session() as s:
        gone = editing.delete_entry(s, lic, added.id, NOW)
        s.commit()
    assert gone.id == added.id
    assert version(db, lic) == v0 + 3
    with db.read_session() as s:
        assert load_entries(s, lic) == []
    assert vector_ids(db) == set()


def test_another_licensees_entry_is_not_found_and_stays(
    db: Database, make_tenant: MakeTenant
) -> None:
    a, b = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    seed(db, a, [REFUND])
    with db.read_session() as s:
        entry = load_entries(s, a)[0]
    for change in (
        lambda s: editing.delete_entry(s, b, entry.id, NOW),
        lambda s: editing.update_entry(s, b, entry.id, HOURS, NOW),
        lambda s: editing.add_similar(s, b, entry.id, "退款", NOW),
        lambda s: editing.get_entry(s, b, entry.id),
    ):
        with db.session() as s, pytest.raises(NotFound):
            change(s)
    with db.read_session() as s:
        assert load_entries(s, a) == [entry]


def test_a_question_that_exists_is_a_conflict(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    seed(db, lic, [REFUND, HOURS])
    with db.read_session() as s:
        hours = editing.find_by_question(s, lic, "  营业时间? ")  # width and blanks folded
    assert hours is not None and hours.question == HOURS.question
    with db.session() as s, pytest.raises(Conflict):
        editing.add_entry(s, lic, KbRow("如何退款?", "x"), NOW)
    with db.session() as s, pytest.raises(Conflict):
        editing.update_entry(s, lic, hours.id, KbRow("如何退款？", "x"), NOW)


def test_add_similar_teaches_a_phrasing_once(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    seed(db, lic, [REFUND])
    with db.read_session() as s:
        entry = load_entries(s, lic)[0]
    v0 = version(db, lic)
    with db.session() as s:
        _, after = editing.add_similar(s, lic, entry.id, " 钱能退回来吗 ", NOW)
        s.commit()
    assert after.similar == ("怎么退钱", "钱能退回来吗")
    with db.session() as s:
        before, again = editing.add_similar(s, lic, entry.id, "钱能退回来吗", NOW)
        s.commit()
    assert before == again
    assert version(db, lic) == v0 + 1
    with db.session() as s, pytest.raises(InvalidInput):
        editing.add_similar(s, lic, entry.id, "  ", NOW)


def test_replace_all_keeps_named_entries_and_deletes_the_rest(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic, other = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    seed(db, lic, [REFUND, HOURS])
    seed(db, other, [HOURS])
    store_vectors(db, lic)
    with db.read_session() as s:
        kept_id = next(e.id for e in load_entries(s, lic) if e.question == REFUND.question)
    new = KbRow("怎么开发票？", "在订单页申请。")
    with db.session() as s:
        counts = editing.replace_all(s, lic, [REFUND, new], NOW)
        s.commit()
    assert counts == editing.ReplaceCounts(added=1, updated=0, unchanged=1, deleted=1)
    with db.read_session() as s:
        entries = load_entries(s, lic)
        assert {e.question for e in entries} == {REFUND.question, new.question}
        assert kept_id in {e.id for e in entries}  # kept entries keep their ids (and vectors)
        assert [e.question for e in load_entries(s, other)] == [HOURS.question]
    assert vector_ids(db) == {kept_id}


def test_replace_all_that_only_deletes_still_bumps_the_version(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    seed(db, lic, [REFUND, HOURS])
    v0 = version(db, lic)
    with db.session() as s:
        counts = editing.replace_all(s, lic, [REFUND], NOW)
        s.commit()
    assert counts.deleted == 1 and version(db, lic) == v0 + 1


def test_check_row_names_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_row("", "", ["x" * 501])
    message = str(caught.value)
    assert "missing question" in message and "missing answer" in message
    assert "longer than 500" in message
    assert check_row(" Q ", " A ", ["Q", "q2", "q2"], ["t"]) == KbRow("Q", "A", ("q2",), ("t",))


def test_search_entries_matches_any_text_and_pages(db: Database, make_tenant: MakeTenant) -> None:
    lic, other = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    rows = [KbRow(f"问题 {n}", f"答案 {n}", (f"Alt {n}",)) for n in range(12)]
    seed(db, lic, [*rows, REFUND])
    seed(db, other, [KbRow("退钱", "B 的答案")])
    everything = db.read(lambda s: editing.search_entries(s, lic, "", 0, 200))
    page = db.read(lambda s: editing.search_entries(s, lic, "", 10, 5))
    assert page.total == 13 and page.entries == everything.entries[10:]
    assert [
        e.question for e in db.read(lambda s: editing.search_entries(s, lic, "退钱")).entries
    ] == [REFUND.question]  # a similar phrasing matches; the other licensee's entry does not
    assert db.read(lambda s: editing.search_entries(s, lic, "alt 1")).total == 3  # 1, 10, 11
    assert db.read(lambda s: editing.search_entries(s, lic, "ORDER PAGE")).total == 1  # answer_en
    with pytest.raises(InvalidInput):
        db.read(lambda s: editing.search_entries(s, lic, "", 0, 0))
