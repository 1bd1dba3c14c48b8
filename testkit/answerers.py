"""Fakes of the answering side: a keyword index and an answerer that streams a scripted reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from bot.answerers.contract import AnswerEvent, AnswerRequest, Delta, Final, Hit
from core.knowledge.entries import KbEntry


@dataclass
class KeywordIndex:
    """Picks the entry whose question shares the most words with the text (tests only)."""

    entries: Sequence[KbEntry]

    @classmethod
    def build(cls, entries: Sequence[KbEntry]) -> KeywordIndex:
        return cls(list(entries))

    @property
    def size(self) -> int:
        return len(self.entries)

    def search(self, text: str, k: int = 5) -> list[Hit]:
        words = set(text.lower().split())
        scored = [
            Hit(e, float(len(words & set(" ".join(e.phrasings).lower().split()))))
            for e in self.entries
        ]
        scored = [h for h in scored if h.score > 0]
        return sorted(scored, key=lambda h: -h.score)[:k]

    def best(self, text: str) -> Hit | None:
        hits = self.search(text, 1)
        return hits[0] if hits else None

    def confident(self, hit: Hit) -> bool:
        return hit.score > 0


class EchoAnswerer:
    """Answers with the best entry, or echoes the question, in three streamed pieces."""

    name = "echo"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.requests: list[AnswerRequest] = []

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        self.calls += 1
        self.requests.append(request)
        hit = request.index.best(request.question)
        text = hit.entry.answer if hit else f"echo: {request.question}"
        third = max(1, len(text) // 3)
        for piece in (text[:third], text[third : 2 * third], text[2 * third :]):
            if self.delay:
                await asyncio.sleep(self.delay)
            if piece:
                yield Delta(piece)
        yield Final(
            producer="test",
            model="echo-1",
            sources=[hit.entry] if hit else [],
            resolved=hit is not None,
        )
