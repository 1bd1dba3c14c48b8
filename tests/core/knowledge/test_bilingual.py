"""An entry may carry its answer in English too: read, stored, exported and given by language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.db.engine import Database
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.files import HEADER, read_kb_bytes, write_kb_bytes
from core.knowledge.store import ImportCounts, import_rows, load_entries
from testkit.tenants import MakeTenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETURNS = KbRow("怎么退货？", "七天内可退货。", ("我要退货",), (), "Returns within 7 days.")
PLAIN = KbRow("运费多少？", "满99元包邮。", ("包邮吗",), ())


def rows(data: bytes, fmt: str) -> list[KbRow]:
    result = read_kb_bytes(data, fmt)
    assert result.rejected == []
    return [parsed.row for parsed in result.rows]


@pytest.mark.parametrize(
    "header",
    ["question,answer,similar,answer_en", "标准问题,答案,相似问题,英文答案"],
)
def test_the_english_answer_column_is_read_by_either_name(header: str) -> None:
    data = f"{header}\n怎么退货？,七天内可退货。,我要退货,Returns within 7 days.\n".encode()
    assert rows(data, "csv") == [RETURNS]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_bilingual_entries_survive_a_round_trip(fmt: str) -> None:
    assert rows(write_kb_bytes([RETURNS, PLAIN], fmt), fmt) == [RETURNS, PLAIN]


def test_files_without_english_answers_are_exported_as_before() -> None:
    first_line = write_kb_bytes([PLAIN], "csv").decode("utf-8-sig").splitlines()[0]
    assert first_line.split(",") == list(HEADER)
    assert b"answer_en" not in write_kb_bytes([PLAIN], "json")
    assert b"answer_en" in write_kb_bytes([PLAIN, RETURNS], "csv")


def test_the_english_answer_is_stored_and_a_change_to_it_is_an_update(
    db: Database, make_tenant: MakeTenant
) -> None:
    shop = make_tenant("Shop", now=NOW).licensee.id
    with db.session() as session:
        assert import_rows(session, shop, [RETURNS, PLAIN], NOW).added == 2
        session.commit()
    with db.session() as session:
        changed = KbRow(
            RETURNS.question, RETURNS.answer, RETURNS.similar, (), "Return it within 7 days."
        )
        assert import_rows(session, shop, [changed, PLAIN], NOW) == ImportCounts(0, 1, 1)
        session.commit()
    with db.read_session() as session:
        stored = {e.question: e for e in load_entries(session, shop)}
    assert stored[RETURNS.question].answer_en == "Return it within 7 days."
    assert stored[PLAIN.question].answer_en == ""


def test_the_answer_matching_the_question_language_is_given() -> None:
    entry = KbEntry("r", RETURNS.question, RETURNS.answer, answer_en=RETURNS.answer_en)
    assert entry.answer_in("en") == "Returns within 7 days."
    assert entry.answer_in("zh") == "七天内可退货。"
    assert KbEntry("p", "q", "只有中文。").answer_in("en") == "只有中文。"
