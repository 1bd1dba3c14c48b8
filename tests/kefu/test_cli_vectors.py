"""``kefu kb vectors``: the entries' vectors encoded with the configured encoder and stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db.engine import Database
from core.knowledge.vectors import load_vectors
from testkit.cli import Kefu, assert_clean_error
from testkit.embeddings import FakeEmbeddings


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, cli_url: str) -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings(dimensions=8) as server:
        monkeypatch.setenv("KEFU_RETRIEVAL_ENCODER", "openai")
        monkeypatch.setenv("KEFU_RETRIEVAL_EMBEDDINGS_BASE_URL", server.base_url)
        monkeypatch.setenv("KEFU_RETRIEVAL_EMBEDDINGS_MODEL", "bge-m3")
        yield server


def test_kb_vectors_encodes_new_and_changed_entries_only(
    kefu: Kefu, fake: FakeEmbeddings, cli_url: str, tmp_path: Path
) -> None:
    made = kefu(
        "licensee", "create", "--name", "Shop", "--origin", "https://shop.example", "--json"
    )
    licensee = json.loads(made.stdout)["id"]
    faq = tmp_path / "faq.csv"
    faq.write_text(
        "question,answer,similar\n怎么退货？,七天内。,我要退货\nWhere are you?,Beijing.,\n"
    )
    kefu("kb", "import", "--licensee", licensee, str(faq))
    first = json.loads(kefu("kb", "vectors", "--licensee", licensee, "--json").stdout)
    assert first == {"encoder": f"openai:{fake.base_url}:bge-m3", "encoded": 2}
    assert (
        json.loads(kefu("kb", "vectors", "--licensee", licensee, "--json").stdout)["encoded"] == 0
    )
    assert "我要退货" in fake.texts()
    db = Database(cli_url, sqlite_synchronous="NORMAL")
    try:
        stored = db.read(lambda s: load_vectors(s, licensee, first["encoder"]))
    finally:
        db.close()
    assert sorted(v.rows for v in stored.values()) == [1, 2]


def test_kb_vectors_with_the_encoder_off_says_so(
    kefu: Kefu, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = kefu(
        "licensee", "create", "--name", "Shop", "--origin", "https://shop.example", "--json"
    )
    monkeypatch.setenv("KEFU_RETRIEVAL_ENCODER", "off")
    result = kefu("kb", "vectors", "--licensee", json.loads(made.stdout)["id"], ok=False)
    assert_clean_error(result)
    assert "KEFU_RETRIEVAL_ENCODER is off" in result.stderr
