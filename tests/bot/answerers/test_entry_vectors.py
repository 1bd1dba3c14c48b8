"""Entry vectors are stored with the knowledge base, loaded at the next build, and refreshed
when an entry changes; questions fall back to lexical scores when the encoder fails."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlmodel import select

from bot.answerers.encoder import BackgroundEncoder, CachedEncoder, FloatArray
from bot.answerers.entry_vectors import refresh_vectors, stored_encoder
from bot.answerers.hybrid import HybridIndex
from bot.answerers.indexing import IndexFactory
from core.db.engine import Database
from core.db.tables import KbEntryVectors
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.store import import_rows, load_entries
from core.knowledge.vectors import StoredVectors, fingerprint, load_vectors, save_vectors
from testkit.tenants import MakeTenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROWS = [
    KbRow("When does my delivery arrive?", "3 days.", ("delivery time", "how long is delivery")),
    KbRow("Which payment methods do you accept?", "Cards.", ("can I pay by card",)),
    KbRow("怎么退货？", "七天内可退货。", ("我要退货", "退货流程")),
]


class CountingEncoder:
    """A bag-of-words stand-in that counts the texts it encodes (tests never load the model)."""

    def __init__(self, name: str = "words", dimensions: int = 32) -> None:
        self.name = name
        self.dimensions = dimensions
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts += texts
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                out[row, hashlib.sha256(word.encode()).digest()[0] % self.dimensions] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit: FloatArray = out / norms
        return unit


def imported(db: Database, make_tenant: MakeTenant, rows: list[KbRow] = ROWS) -> str:
    licensee = make_tenant("Shop", now=NOW).licensee.id
    with db.session() as session:
        import_rows(session, licensee, rows, NOW)
        session.commit()
    return licensee


def entries_of(db: Database, licensee: str) -> list[KbEntry]:
    return db.read(lambda s: load_entries(s, licensee))


def test_vectors_are_stored_once_then_loaded(db: Database, make_tenant: MakeTenant) -> None:
    licensee = imported(db, make_tenant)
    encoder = CountingEncoder()
    assert refresh_vectors(db, licensee, encoder) == 3
    assert sorted(encoder.texts) == sorted(p for r in ROWS for p in (r.question, *r.similar))
    stored = db.read(lambda s: load_vectors(s, licensee, "words"))
    assert set(stored) == {e.id for e in entries_of(db, licensee)}
    assert {v.dimensions for v in stored.values()} == {32}

    again = CountingEncoder()
    assert refresh_vectors(db, licensee, again) == 0
    assert again.texts == []  # nothing encoded: all loaded


def test_an_index_from_stored_vectors_is_the_one_from_fresh_vectors(
    db: Database, make_tenant: MakeTenant
) -> None:
    licensee = imported(db, make_tenant)
    entries = entries_of(db, licensee)
    fresh = HybridIndex.build(entries, CountingEncoder())
    refresh_vectors(db, licensee, CountingEncoder())
    questions = CountingEncoder()
    loaded = HybridIndex.build(
        entries, questions, phrasings=stored_encoder(db, licensee, entries, CountingEncoder())
    )
    for text in ("how long is my delivery", "pay by card", "退货怎么办"):
        a, b = fresh.search(text, 3), loaded.search(text, 3)
        assert [(h.entry.id, round(h.score, 5)) for h in a] == [
            (h.entry.id, round(h.score, 5)) for h in b
        ]
    assert "how long is my delivery" in questions.texts
    assert not set(questions.texts) & {p for e in entries for p in e.phrasings}


def test_a_changed_entry_alone_is_encoded_again(db: Database, make_tenant: MakeTenant) -> None:
    licensee = imported(db, make_tenant)
    refresh_vectors(db, licensee, CountingEncoder())
    before = db.read(lambda s: load_vectors(s, licensee, "words"))
    changed = KbRow(ROWS[1].question, ROWS[1].answer, ("can I pay by card", "paypal?"))
    with db.session() as session:
        import_rows(session, licensee, [ROWS[0], changed, ROWS[2]], NOW)
        session.commit()
    encoder = CountingEncoder()
    assert refresh_vectors(db, licensee, encoder) == 1
    assert encoder.texts == [ROWS[1].question, "can I pay by card", "paypal?"]
    after = db.read(lambda s: load_vectors(s, licensee, "words"))
    assert [k for k in after if after[k] != before[k]] == [
        e.id for e in entries_of(db, licensee) if e.question == ROWS[1].question
    ]


def test_another_encoders_vectors_are_not_used(db: Database, make_tenant: MakeTenant) -> None:
    licensee = imported(db, make_tenant)
    refresh_vectors(db, licensee, CountingEncoder("words", 32))
    other = CountingEncoder("other-model", 16)
    assert refresh_vectors(db, licensee, other) == 3
    with db.read_session() as session:
        rows = session.exec(select(KbEntryVectors)).all()
    assert sorted({(r.encoder, r.dimensions) for r in rows}) == [
        ("other-model", 16),
        ("words", 32),
    ]


def test_damaged_vectors_are_encoded_again(db: Database, make_tenant: MakeTenant) -> None:
    licensee = imported(db, make_tenant)
    refresh_vectors(db, licensee, CountingEncoder())
    entry = entries_of(db, licensee)[0]
    texts = [entry.question, *entry.similar]
    broken = StoredVectors(fingerprint(texts), 32, b"\0" * 10)  # cut short
    db.run(lambda s: save_vectors(s, licensee, "words", {entry.id: broken}, NOW))
    encoder = CountingEncoder()
    assert refresh_vectors(db, licensee, encoder) == 1
    assert encoder.texts == texts


def test_the_server_factory_stores_vectors_at_the_first_build(
    db: Database, make_tenant: MakeTenant
) -> None:
    licensee = imported(db, make_tenant)
    encoder = CountingEncoder()
    loaded = BackgroundEncoder(lambda: CachedEncoder(encoder))
    assert loaded.wait(10) is not None
    factory = IndexFactory(loaded, db)
    index = factory.build_for(licensee, entries_of(db, licensee))
    assert isinstance(index, HybridIndex) and index.uses_encoder
    assert len(db.read(lambda s: load_vectors(s, licensee, "words"))) == 3
    encoder.texts.clear()
    second = factory.build_for(licensee, entries_of(db, licensee))  # a restart: loaded
    assert encoder.texts == []
    hit = second.best("when does my delivery arrive")
    assert hit is not None and hit.entry.question == ROWS[0].question


def test_the_question_cache_keeps_recent_questions_only() -> None:
    inner = CountingEncoder()
    cache = CachedEncoder(inner, size=2)
    cache.encode(["a b", "c d"])
    cache.encode(["a b"])
    assert inner.texts == ["a b", "c d"]
    cache.encode(["e f"])  # "c d" was the least recently used: it goes
    cache.encode(["a b", "c d"])
    assert inner.texts == ["a b", "c d", "e f", "c d"]


class Failing(CountingEncoder):
    def __init__(self, fail: Exception | None = None, dimensions: int = 32) -> None:
        super().__init__()
        self.fail = fail
        self.wrong = dimensions

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if self.fail is not None:
            raise self.fail
        return CountingEncoder(dimensions=self.wrong).encode(texts)


@pytest.mark.parametrize(
    "broken",
    [Failing(TimeoutError("read timed out")), Failing(dimensions=8)],
    ids=["error", "wrong-dimension"],
)
def test_a_failing_question_encoder_leaves_the_answer_lexical(
    broken: Failing, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [KbEntry(str(i), r.question, r.answer, r.similar) for i, r in enumerate(ROWS)]
    index = HybridIndex.build(entries, broken, phrasings=CountingEncoder())
    lexical = HybridIndex.build(entries)
    hits = index.search("how long is delivery", 2)
    assert [(h.entry.id, h.score, h.threshold) for h in hits] == [
        (h.entry.id, h.score, lexical.thresholds.default)
        for h in lexical.search("how long is delivery", 2)
    ]
    assert index.best("how long is delivery") is not None
    assert "answered lexically" in caplog.text
    assert "Traceback" not in caplog.text
