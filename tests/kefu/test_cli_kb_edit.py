"""``kefu kb delete`` and ``kefu kb import --replace`` (PROTOCOL.md, CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import Result

from core.db.engine import Database
from core.db.tables import KbEntryRecord, Licensee
from testkit.cli import assert_clean_error, one_json

ORIGIN = "https://shop.example.com"
FAQ: list[dict[str, Any]] = [
    {"question": "如何退款？", "answer": "在订单页申请。", "similar": ["怎么退钱"]},
    {"question": "营业时间？", "answer": "每天 9:00-18:00。", "similar": []},
]


@pytest.fixture
def database(cli_url: str) -> Iterator[Database]:
    db = Database(cli_url, sqlite_synchronous="NORMAL")
    yield db
    db.close()


def licensee(kefu: Callable[..., Result], name: str = "Shop") -> str:
    made = one_json(kefu("licensee", "create", "--name", name, "--origin", ORIGIN, "--json"))
    return str(made["id"])


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def entries(db: Database, lic: str) -> dict[str, str]:
    with db.read_session() as s:
        rows = s.exec(select(KbEntryRecord).where(KbEntryRecord.licensee_id == lic))
        return {r.question: r.id for r in rows}


def kb_version(db: Database, lic: str) -> int:
    with db.read_session() as s:
        row = s.get(Licensee, lic)
        assert row is not None
        return row.kb_version


def test_delete_by_id_and_by_question(
    kefu: Callable[..., Result], database: Database, tmp_path: Path
) -> None:
    lic = licensee(kefu)
    kefu("kb", "import", "--licensee", lic, str(write(tmp_path / "kb.json", FAQ)))
    ids = entries(database, lic)
    v0 = kb_version(database, lic)
    out = one_json(kefu("kb", "delete", "--licensee", lic, "--entry", ids["如何退款？"], "--json"))
    assert out["deleted"]["question"] == "如何退款？" and out["deleted"]["similar"] == ["怎么退钱"]
    said = kefu("kb", "delete", "--licensee", lic, "--question", " 营业时间? ").stdout
    assert "营业时间？" in said
    assert entries(database, lic) == {}
    assert kb_version(database, lic) == v0 + 2


def test_delete_refuses_cleanly_and_changes_nothing(
    kefu: Callable[..., Result], database: Database, tmp_path: Path
) -> None:
    a, b = licensee(kefu, "A"), licensee(kefu, "B")
    kefu("kb", "import", "--licensee", a, str(write(tmp_path / "kb.json", FAQ)))
    before = entries(database, a)
    refund = before["如何退款？"]
    # Another licensee's entry is "no such entry", and stays.
    result = kefu("kb", "delete", "--licensee", b, "--entry", refund, "--json", ok=False)
    assert_clean_error(result)
    assert result.exit_code == 3
    for args in (
        ["--question", "没有这个问题"],
        [],
        ["--entry", refund, "--question", "如何退款？"],
    ):
        result = kefu("kb", "delete", "--licensee", a, *args, "--json", ok=False)
        assert_clean_error(result)
    assert entries(database, a) == before


def test_import_replace_makes_the_file_the_whole_knowledge_base(
    kefu: Callable[..., Result], database: Database, tmp_path: Path
) -> None:
    lic = licensee(kefu)
    kefu("kb", "import", "--licensee", lic, str(write(tmp_path / "kb.json", FAQ)))
    kept = entries(database, lic)["如何退款？"]
    new: list[dict[str, Any]] = [
        FAQ[0],
        {"question": "怎么开发票？", "answer": "在订单页申请。", "similar": []},
    ]
    out = one_json(
        kefu(
            "kb",
            "import",
            "--licensee",
            lic,
            str(write(tmp_path / "new.json", new)),
            "--replace",
            "--json",
        )
    )
    assert out == {"added": 1, "updated": 0, "unchanged": 1, "deleted": 1, "rejected": []}
    assert entries(database, lic) == {
        "如何退款？": kept,
        "怎么开发票？": entries(database, lic)["怎么开发票？"],
    }


def test_import_replace_with_a_bad_row_changes_nothing(
    kefu: Callable[..., Result], database: Database, tmp_path: Path
) -> None:
    lic = licensee(kefu)
    kefu("kb", "import", "--licensee", lic, str(write(tmp_path / "kb.json", FAQ)))
    before = entries(database, lic)
    bad: list[dict[str, Any]] = [FAQ[0], {"question": "没有答案", "answer": ""}]
    path = write(tmp_path / "bad.json", bad)
    result = kefu("kb", "import", "--licensee", lic, str(path), "--replace", "--json", ok=False)
    assert one_json(result)["rejected"] == [{"line": 2, "reason": "missing answer"}]
    assert entries(database, lic) == before
    out = one_json(
        kefu("kb", "import", "--licensee", lic, str(path), "--replace", "--skip-bad", "--json")
    )
    assert out["deleted"] == 1
    assert set(entries(database, lic)) == {"如何退款？"}
