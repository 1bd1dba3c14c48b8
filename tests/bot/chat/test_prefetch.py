"""A question's retrieval is done ahead in the work pool, off the event loop, and gives the
answerer exactly what the index would."""

from __future__ import annotations

import threading

import pytest

from bot.answerers.contract import Hit
from bot.answerers.retrieval import KnowledgeBaseIndex
from bot.chat.prefetch import PREFETCH_K, prefetch
from bot.chat.workpool import WorkPool
from core.knowledge.entries import KbEntry

pytestmark = pytest.mark.anyio

# Equal scores (the same phrasing twice) must keep the knowledge base's order for every k.
ENTRIES = [
    KbEntry(f"e{i}", f"Where is my parcel number {i % 4}?", f"Answer {i}.", ()) for i in range(12)
]


class Watched:
    """An index that notes which thread searched it."""

    def __init__(self, index: KnowledgeBaseIndex) -> None:
        self.index = index
        self.threads: list[int] = []

    @property
    def size(self) -> int:
        return self.index.size

    def search(self, text: str, k: int = 5) -> list[Hit]:
        self.threads.append(threading.get_ident())
        return self.index.search(text, k)

    def best(self, text: str) -> Hit | None:
        return self.index.best(text)

    def confident(self, hit: Hit) -> bool:
        return self.index.confident(hit)


@pytest.mark.parametrize("question", ["where is my parcel", "parcel number 2", "nothing like it"])
async def test_the_prefetched_hits_are_the_indexs_own(question: str) -> None:
    index = KnowledgeBaseIndex.build(ENTRIES)
    watched = Watched(index)
    pool = WorkPool()
    try:
        ahead = await prefetch(pool, "lic", watched, question)
    finally:
        pool.close()
    assert watched.threads and threading.get_ident() not in watched.threads
    for k in range(PREFETCH_K + 3):
        assert ahead.search(question, k) == index.search(question, k)
    assert ahead.best(question) == index.best(question)
    assert ahead.search("parcel number 3", 2) == index.search("parcel number 3", 2)
    assert ahead.size == index.size
