"""Entries' phrasings as sentence-encoder vectors, stored beside the knowledge base."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.db.tables import KbEntryVectors

# Rows are float32, little-endian, whatever the machine that wrote them.
BYTES_PER_VALUE = 4
# Bound parameters per query (SQLite allows a few thousand at most in older builds).
_IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class StoredVectors:
    """One entry's vectors: ``rows`` x ``dimensions`` float32 values in ``data``."""

    fingerprint: str
    dimensions: int
    data: bytes

    @property
    def rows(self) -> int:
        size = self.dimensions * BYTES_PER_VALUE
        return len(self.data) // size if size else 0

    def fits(self, fingerprint: str, rows: int) -> bool:
        """Made from exactly these phrasings, and whole."""
        return (
            self.fingerprint == fingerprint
            and self.dimensions > 0
            and len(self.data) == rows * self.dimensions * BYTES_PER_VALUE
        )


def fingerprint(texts: Sequence[str]) -> str:
    """What the vectors were made from: an entry whose phrasings change gets a new one."""
    digest = hashlib.sha256(str(len(texts)).encode())
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "little") + encoded)
    return digest.hexdigest()


def load_vectors(session: Session, licensee_id: str, encoder: str) -> dict[str, StoredVectors]:
    """The licensee's stored vectors of ``encoder``, by entry id."""
    records = session.exec(
        select(KbEntryVectors).where(
            KbEntryVectors.licensee_id == licensee_id, KbEntryVectors.encoder == encoder
        )
    )
    return {r.entry_id: StoredVectors(r.fingerprint, r.dimensions, r.vectors) for r in records}


def save_vectors(
    session: Session,
    licensee_id: str,
    encoder: str,
    vectors: Mapping[str, StoredVectors],
    now: datetime,
) -> None:
    """Add or replace the vectors of these entries (the caller commits)."""
    if not vectors:
        return
    ids = list(vectors)
    existing: dict[str, KbEntryVectors] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        existing.update(
            (r.entry_id, r)
            for r in session.exec(
                select(KbEntryVectors).where(
                    KbEntryVectors.encoder == encoder,
                    col(KbEntryVectors.entry_id).in_(ids[start : start + _IDS_PER_QUERY]),
                )
            )
        )
    for entry_id, stored in vectors.items():
        record = existing.get(entry_id)
        if record is None:
            record = KbEntryVectors(
                entry_id=entry_id,
                encoder=encoder,
                licensee_id=licensee_id,
                fingerprint=stored.fingerprint,
                dimensions=stored.dimensions,
                vectors=stored.data,
                updated_at=now,
            )
        else:
            record.fingerprint = stored.fingerprint
            record.dimensions = stored.dimensions
            record.vectors = stored.data
            record.updated_at = now
        session.add(record)
