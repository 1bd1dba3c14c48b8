"""Entry vectors kept with the knowledge base: loaded when they fit, encoded and stored if not."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.answerers.encoder import TextEncoder
from bot.answerers.retrieval import normalize
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.knowledge.vectors import StoredVectors, fingerprint, load_vectors, save_vectors
from core.types import utcnow

FloatArray = npt.NDArray[np.float32]

log = logging.getLogger(__name__)

# Phrasings encoded per call when entries are (re-)encoded.
BATCH = 128


def distinct(phrasings: Sequence[str]) -> list[str]:
    """Phrasings less repeats (as the lexical index counts them), in order: the rows of an
    entry's vectors."""
    seen: set[str] = set()
    out = []
    for p in phrasings:
        key = normalize(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


class KnownVectors:
    """A ``TextEncoder`` that answers known texts from a table and encodes only the others."""

    def __init__(
        self, inner: TextEncoder, known: dict[str, FloatArray], encoded_entries: int = 0
    ) -> None:
        self.name = inner.name
        self._inner = inner
        self._known = known
        self.encoded_entries = encoded_entries  # of the entries given, those encoded anew

    def encode(self, texts: Sequence[str]) -> FloatArray:
        known = self._known
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        found: dict[str, FloatArray] = {}
        for start in range(0, len(missing), BATCH):
            chunk = missing[start : start + BATCH]
            found.update(zip(chunk, self._inner.encode(chunk), strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[t] if t in known else found[t] for t in texts])


def encode_entries(encoder: TextEncoder, entries: Sequence[KbEntry]) -> dict[str, StoredVectors]:
    """The vectors of ``entries``' phrasings, by entry id, ready to store."""
    texts = [(e.id, distinct(e.phrasings)) for e in entries]
    flat = [t for _, ts in texts for t in ts]
    parts = [encoder.encode(flat[i : i + BATCH]) for i in range(0, len(flat), BATCH)]
    vectors = np.concatenate(parts).astype("<f4") if parts else np.zeros((0, 0), "<f4")
    out: dict[str, StoredVectors] = {}
    row = 0
    for entry_id, ts in texts:
        block = vectors[row : row + len(ts)]
        row += len(ts)
        out[entry_id] = StoredVectors(fingerprint(ts), int(vectors.shape[1]), block.tobytes())
    return out


def refresh_vectors(db: Database, licensee_id: str, encoder: TextEncoder) -> int:
    """Encode and store the vectors of the licensee's entries that have none or whose
    phrasings changed (after an import); the number of entries encoded."""
    from core.knowledge.store import load_entries

    entries = db.read(lambda s: load_entries(s, licensee_id))
    known = stored_encoder(db, licensee_id, entries, encoder)
    return known.encoded_entries


def stored_encoder(
    db: Database, licensee_id: str, entries: Sequence[KbEntry], encoder: TextEncoder
) -> KnownVectors:
    """An encoder for ``entries``' phrasings that reads their stored vectors; the entries
    without vectors, or changed since theirs were made, are encoded now and stored."""
    stored = db.read(lambda s: load_vectors(s, licensee_id, encoder.name))
    known: dict[str, FloatArray] = {}
    stale: list[KbEntry] = []
    for entry in entries:
        texts = distinct(entry.phrasings)
        found = stored.get(entry.id)
        if found is None or not found.fits(fingerprint(texts), len(texts)):
            stale.append(entry)
            continue
        rows = np.frombuffer(found.data, dtype="<f4").reshape(len(texts), found.dimensions)
        known.update(zip(texts, rows.astype(np.float32, copy=False), strict=True))
    if stale:
        fresh = encode_entries(encoder, stale)
        for entry in stale:
            texts = distinct(entry.phrasings)
            block = fresh[entry.id]
            rows = np.frombuffer(block.data, dtype="<f4").reshape(len(texts), block.dimensions)
            known.update(zip(texts, rows.astype(np.float32, copy=False), strict=True))
        try:
            db.run(lambda s: save_vectors(s, licensee_id, encoder.name, fresh, utcnow()))
        except Exception:
            # Only a cache: another process may have stored the same entries first.
            log.warning(
                "entry vectors of %s not stored; they are encoded again next time",
                licensee_id,
                exc_info=True,
            )
        log.info("encoded %d of %d entries of %s", len(stale), len(entries), licensee_id)
    return KnownVectors(encoder, known, len(stale))
