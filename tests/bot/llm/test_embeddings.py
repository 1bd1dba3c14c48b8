"""Retrieval's encoder at an embeddings endpoint (OpenAI-compatible or Ollama), over real HTTP
on loopback, and its fallbacks: to the built-in encoder at start, to lexical scores after."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from bot.answerers import indexing
from bot.answerers.encoder import (
    BackgroundEncoder,
    CachedEncoder,
    FloatArray,
    TextEncoder,
    uncached,
)
from bot.answerers.hybrid import HybridIndex
from bot.answerers.indexing import IndexFactory, encoder_for
from bot.llm.embeddings import EmbeddingsFailed, EmbeddingsSpec, EndpointEncoder
from core.db.engine import Database
from core.knowledge.entries import KbEntry, KbRow
from core.knowledge.store import import_rows, load_entries
from core.knowledge.vectors import load_vectors
from core.settings import Settings
from testkit.embeddings import FakeEmbeddings, word_vector
from testkit.tenants import MakeTenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROWS = [
    KbRow("When does my delivery arrive?", "3 days.", ("delivery time", "how long is delivery")),
    KbRow("Which payment methods do you accept?", "Cards.", ("can I pay by card",)),
]


@pytest.fixture
def fake() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings(dimensions=16) as server:
        yield server


@pytest.fixture
def opened() -> Iterator[list[EndpointEncoder]]:
    """Encoders a test made, closed after it (their connections)."""
    encoders: list[EndpointEncoder] = []
    yield encoders
    for encoder in encoders:
        encoder.close()


def closing(loaded: BackgroundEncoder | None, opened: list[EndpointEncoder]) -> TextEncoder:
    """The loaded encoder; the endpoint behind it is closed after the test."""
    assert loaded is not None
    encoder = loaded.wait(10)
    assert encoder is not None
    inner = uncached(encoder)
    if isinstance(inner, EndpointEncoder):
        opened.append(inner)
    return encoder


def spec(fake: FakeEmbeddings, provider: str, timeout: float = 2.0) -> EmbeddingsSpec:
    url = fake.base_url if provider == "openai" else fake.ollama_url
    return EmbeddingsSpec(provider, url, "bge-m3", api_key="sk-secret-9", timeout=timeout)  # type: ignore[arg-type]


def test_the_fake_speaks_what_the_official_clients_expect(fake: FakeEmbeddings) -> None:
    import ollama
    import openai

    with openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0) as client:
        got = client.embeddings.create(model="bge-m3", input=["hello world", "退货"])
    assert [len(d.embedding) for d in got.data] == [16, 16]
    assert got.data[0].embedding == pytest.approx(word_vector("hello world", 16))
    local = ollama.Client(host=fake.ollama_url)
    try:
        answer = local.embed(model="bge-m3", input=["hello world"])
    finally:
        local._client.close()
    assert answer.embeddings[0] == pytest.approx(word_vector("hello world", 16))


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_texts_are_encoded_by_the_endpoint(
    fake: FakeEmbeddings, provider: str, opened: list[EndpointEncoder]
) -> None:
    encoder = EndpointEncoder(spec(fake, provider))
    opened.append(encoder)
    vectors = encoder.encode(["hello world", "world hello", "退货"])
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0)
    call = fake.calls[-1]
    assert call.path == ("/v1/embeddings" if provider == "openai" else "/api/embed")
    assert call.body["model"] == "bge-m3" and call.body["input"] == [
        "hello world",
        "world hello",
        "退货",
    ]
    assert call.headers["authorization"] == "Bearer sk-secret-9"
    assert "sk-secret-9" not in repr(spec(fake, provider))
    assert encoder.name == f"{provider}:{spec(fake, provider).base_url.rstrip('/')}:bge-m3"


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_a_slow_endpoint_fails_at_its_timeout(
    fake: FakeEmbeddings, provider: str, opened: list[EndpointEncoder]
) -> None:
    encoder = EndpointEncoder(spec(fake, provider, timeout=0.3))
    opened.append(encoder)
    fake.delay = 3.0
    started = time.monotonic()
    with pytest.raises(EmbeddingsFailed):
        encoder.encode(["hello"])
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_an_error_or_a_wrong_size_is_a_failure(
    fake: FakeEmbeddings, provider: str, opened: list[EndpointEncoder]
) -> None:
    encoder = EndpointEncoder(spec(fake, provider))
    opened.append(encoder)
    encoder.encode(["hello"])  # fixes the size: 16
    fake.dimensions = 8
    with pytest.raises(EmbeddingsFailed, match="8 dimensions, not 16"):
        encoder.encode(["hello"])
    fake.dimensions = 16
    fake.status = 500
    with pytest.raises(EmbeddingsFailed):
        encoder.encode(["hello"])


def test_the_settings_name_the_endpoint_or_refuse() -> None:
    with pytest.raises(ValidationError, match="EMBEDDINGS_BASE_URL"):
        Settings(retrieval_encoder="openai")
    chosen = Settings(
        retrieval_encoder="ollama",
        retrieval_embeddings_base_url="http://127.0.0.1:9",
        retrieval_embeddings_model="bge-m3",
    )
    assert encoder_for(chosen) is not None
    assert encoder_for(Settings(retrieval_encoder="off")) is None


class StandIn:
    name = "stand-in"

    def encode(self, texts: Sequence[str]) -> FloatArray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


def endpoint_settings(fake: FakeEmbeddings, provider: str = "openai") -> Settings:
    return Settings(
        retrieval_encoder=provider,
        retrieval_embeddings_base_url=fake.base_url if provider == "openai" else fake.ollama_url,
        retrieval_embeddings_model="bge-m3",
        retrieval_embeddings_timeout_seconds=0.5,
    )


def test_an_endpoint_down_at_start_leaves_the_builtin_encoder(
    fake: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    opened: list[EndpointEncoder],
) -> None:
    monkeypatch.setattr(indexing, "builtin_encoder", lambda: CachedEncoder(StandIn()))
    fake.status = 500
    encoder = closing(encoder_for(endpoint_settings(fake)), opened)
    assert encoder.name == "stand-in"
    assert "cannot be used" in caplog.text and "the built-in encoder is used" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_a_knowledge_base_is_encoded_by_the_endpoint_and_falls_back_per_question(
    fake: FakeEmbeddings,
    provider: str,
    db: Database,
    make_tenant: MakeTenant,
    caplog: pytest.LogCaptureFixture,
    opened: list[EndpointEncoder],
) -> None:
    licensee = make_tenant("Shop", now=NOW).licensee.id
    with db.session() as session:
        import_rows(session, licensee, ROWS, NOW)
        session.commit()
    entries = db.read(lambda s: load_entries(s, licensee))
    loaded = encoder_for(endpoint_settings(fake, provider))
    encoder = closing(loaded, opened)
    assert encoder.name.startswith(provider + ":")
    index = IndexFactory(loaded, db).build_for(licensee, entries)
    assert isinstance(index, HybridIndex) and index.uses_encoder
    stored = db.read(lambda s: load_vectors(s, licensee, encoder.name))
    assert {v.dimensions for v in stored.values()} == {16} and len(stored) == 2
    hit = index.best("how long is delivery to me")
    assert hit is not None and hit.entry.question == ROWS[0].question

    fake.status = 500  # down: a question is answered on its words alone, never broken
    hit = index.best("when does my delivery arrive, please")
    assert hit is not None and hit.entry.question == ROWS[0].question
    assert "answered lexically" in caplog.text and "Traceback" not in caplog.text


def test_a_knowledge_base_the_endpoint_fails_to_encode_is_lexical_for_a_while(
    fake: FakeEmbeddings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[EndpointEncoder],
) -> None:
    loaded = encoder_for(endpoint_settings(fake))
    closing(loaded, opened)
    factory = IndexFactory(loaded)
    fake.status = 500
    entries = [KbEntry(str(i), r.question, r.answer, r.similar) for i, r in enumerate(ROWS)]
    index = factory.build_for("lic_x", entries)
    assert isinstance(index, HybridIndex) and not index.uses_encoder
    assert index.best("which payment methods") is not None
    assert "could not be encoded" in caplog.text and "Traceback" not in caplog.text
    assert not factory.stale(index)  # not rebuilt at every question while the endpoint is down
    monkeypatch.setattr(indexing, "RETRY_SECONDS", 0)
    assert factory.stale(index)
