"""How the server builds a licensee's retrieval index: hybrid when the encoder is on and loaded."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from bot.answerers.contract import KnowledgeIndex
from bot.answerers.encoder import BackgroundEncoder, builtin_encoder
from core.knowledge.entries import KbEntry

_shared: BackgroundEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> BackgroundEncoder:
    """The process's one built-in encoder (its weights are loaded once, whatever asks)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = BackgroundEncoder(builtin_encoder)
        return _shared


class IndexFactory:
    """Builds indexes with the encoder once it is loaded, lexical only until then (or when the
    encoder is off), and says which indexes to rebuild when it has loaded."""

    def __init__(self, encoder: BackgroundEncoder | None) -> None:
        self._encoder = encoder
        if encoder is not None:
            encoder.start()

    def build(self, entries: Sequence[KbEntry]) -> KnowledgeIndex:
        from bot.answerers.hybrid import HybridIndex  # NumPy and SciPy: not at start-up

        encoder = None if self._encoder is None else self._encoder.get()
        return HybridIndex.build(entries, encoder)

    def stale(self, index: KnowledgeIndex) -> bool:
        if self._encoder is None or self._encoder.get() is None:
            return False
        return not getattr(index, "uses_encoder", True)
