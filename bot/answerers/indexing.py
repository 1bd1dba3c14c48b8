"""How the server builds a licensee's retrieval index: hybrid when the encoder is on and loaded."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from bot.answerers.contract import KnowledgeIndex
from bot.answerers.encoder import BackgroundEncoder, TextEncoder, builtin_encoder, uncached
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.settings import Settings

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
    return shared_encoder()


class IndexFactory:
    """Builds indexes with the encoder once it is loaded, lexical only until then (or when the
    encoder is off), and says which indexes to rebuild when it has loaded. With a database the
    entries' vectors are read from it (and stored there when missing or out of date)."""

    def __init__(self, encoder: BackgroundEncoder | None, db: Database | None = None) -> None:
        self._encoder = encoder
        self._db = db
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
        if self._db is not None and licensee_id is not None:
            from bot.answerers.entry_vectors import stored_encoder

            phrasings = stored_encoder(self._db, licensee_id, entries, phrasings)
        return HybridIndex.build(entries, encoder, phrasings=phrasings)

    def stale(self, index: KnowledgeIndex) -> bool:
        if self._encoder is None or self._encoder.get() is None:
            return False
        return not getattr(index, "uses_encoder", True)
