"""How the server builds a licensee's retrieval index: hybrid when the encoder is on and loaded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.answerers.contract import KnowledgeIndex
from bot.answerers.encoder import (
    BackgroundEncoder,
    CachedEncoder,
    TextEncoder,
    builtin_encoder,
    describe,
    uncached,
)
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.settings import Settings

if TYPE_CHECKING:
    from bot.llm.embeddings import EmbeddingsSpec

log = logging.getLogger(__name__)

# After an index could not be encoded, it stays lexical this long before another try.
RETRY_SECONDS = 60

_shared: BackgroundEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> BackgroundEncoder:
    """The process's one built-in encoder (its weights are loaded once, whatever asks)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = BackgroundEncoder(builtin_encoder)
        return _shared


def encoder_for(settings: Settings) -> BackgroundEncoder | None:
    """The encoder ``settings`` choose (``KEFU_RETRIEVAL_ENCODER``), loading in the background;
    None when retrieval is lexical only."""
    if settings.retrieval_encoder == "off":
        return None
    if settings.retrieval_encoder == "builtin":
        return shared_encoder()
    from bot.llm.embeddings import EmbeddingsSpec  # cheap: LangChain loads in the thread

    key = settings.retrieval_embeddings_api_key
    spec = EmbeddingsSpec(
        provider="ollama" if settings.retrieval_encoder == "ollama" else "openai",
        base_url=settings.retrieval_embeddings_base_url or "",
        model=settings.retrieval_embeddings_model or "",
        api_key=None if key is None else key.get_secret_value(),
        timeout=settings.retrieval_embeddings_timeout_seconds,
    )
    return BackgroundEncoder(lambda: endpoint_or_builtin(spec))


def endpoint_or_builtin(spec: EmbeddingsSpec) -> TextEncoder:
    """The embeddings endpoint, if it answers now (its first answer fixes the vectors' size);
    else the built-in encoder, logged. Called in the loading thread."""
    from bot.llm.embeddings import EndpointEncoder

    endpoint: EndpointEncoder | None = None
    try:
        endpoint = EndpointEncoder(spec)
        endpoint.encode(["你好", "hello"])
    except Exception as exc:
        if endpoint is not None:
            endpoint.close()
        log.warning(
            "the embeddings endpoint %s (%s) cannot be used (%s): the built-in encoder is used",
            spec.base_url,
            spec.model,
            describe(exc),
        )
        return builtin_encoder()
    log.info("retrieval encodes with %s (%d dimensions)", endpoint.name, endpoint.dimensions)
    return CachedEncoder(endpoint)


class IndexFactory:
    """Builds indexes with the encoder once it is loaded, lexical only until then (or when the
    encoder is off), and says which indexes to rebuild when it has loaded. With a database the
    entries' vectors are read from it (and stored there when missing or out of date)."""

    def __init__(self, encoder: BackgroundEncoder | None, db: Database | None = None) -> None:
        self._encoder = encoder
        self._db = db
        self._failed_at = -float(RETRY_SECONDS)
        if encoder is not None:
            encoder.start()

    def build(self, entries: Sequence[KbEntry]) -> KnowledgeIndex:
        return self.build_for(None, entries)

    def build_for(self, licensee_id: str | None, entries: Sequence[KbEntry]) -> KnowledgeIndex:
        from bot.answerers.hybrid import HybridIndex  # NumPy and SciPy: not at start-up

        encoder = None if self._encoder is None else self._encoder.get()
        if encoder is None:
            return HybridIndex.build(entries, None)
        phrasings: TextEncoder = uncached(encoder)
        try:
            if self._db is not None and licensee_id is not None:
                from bot.answerers.entry_vectors import stored_encoder

                phrasings = stored_encoder(self._db, licensee_id, entries, phrasings)
            return HybridIndex.build(entries, encoder, phrasings=phrasings)
        except Exception as exc:
            # An embeddings endpoint down or answering wrong: lexical now, tried again later.
            self._failed_at = time.monotonic()
            log.warning(
                "the knowledge base of %s could not be encoded (%s): retrieval is lexical only "
                "for it, tried again in %d s",
                licensee_id,
                describe(exc),
                RETRY_SECONDS,
            )
            return HybridIndex.build(entries, None)

    def stale(self, index: KnowledgeIndex) -> bool:
        if self._encoder is None or self._encoder.get() is None:
            return False
        if time.monotonic() - self._failed_at < RETRY_SECONDS:
            return False
        return not getattr(index, "uses_encoder", True)
