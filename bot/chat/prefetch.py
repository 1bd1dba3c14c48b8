"""A question's retrieval done ahead in the work pool, for answerers that ask the index inline."""

from __future__ import annotations

from bot.answerers.contract import Hit, KnowledgeIndex
from bot.chat.workpool import WorkPool

# Enough for every answerer's own ask (the built-in one asks for 1, the model prompt for its
# context entries); a bigger ask, or one about another text, goes to the index itself.
PREFETCH_K = 8


class PrefetchedIndex:
    """``index`` with the hits for ``question`` already found: the answerer asks on the event
    loop, and gets them without the index's work."""

    def __init__(self, index: KnowledgeIndex, question: str, hits: list[Hit]) -> None:
        self._index = index
        self._question = question
        self._hits = hits

    @property
    def size(self) -> int:
        return self._index.size

    def search(self, text: str, k: int = 5) -> list[Hit]:
        # The hits are best first, equal scores in the knowledge base's order, for any k: the
        # first k of the prefetched ones are the index's own answer for k.
        if text == self._question and 0 <= k <= PREFETCH_K:
            return self._hits[:k]
        return self._index.search(text, k)

    def best(self, text: str) -> Hit | None:
        hits = self.search(text, 1)
        if hits and self.confident(hits[0]):
            return hits[0]
        return None

    def confident(self, hit: Hit) -> bool:
        return self._index.confident(hit)


async def prefetch(
    pool: WorkPool, licensee_id: str, index: KnowledgeIndex, question: str
) -> PrefetchedIndex:
    hits = await pool.run(licensee_id, lambda: index.search(question, PREFETCH_K))
    return PrefetchedIndex(index, question, hits)
