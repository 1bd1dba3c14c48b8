"""The one interface every answerer implements: the built-in knowledge-base answerer and the
LangChain model backends alike. The engine knows nothing else about how an answer is made."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.frames import Role
from core.knowledge import KbEntry


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved knowledge-base entry with its score (higher is better)."""

    entry: KbEntry
    score: float


class KnowledgeIndex(Protocol):
    """Retrieval over one licensee's knowledge base (only that licensee's entries)."""

    @property
    def size(self) -> int: ...

    def search(self, text: str, k: int = 5) -> list[Hit]:
        """The k best entries for ``text``, best first; scores comparable across calls."""
        ...

    def best(self, text: str) -> Hit | None:
        """The best entry when the index is confident enough to answer with it, else None."""
        ...


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    licensee_id: str
    question: str
    locale: str  # "zh-CN" or "en" (anything else is treated by its language prefix)
    history: Sequence[Turn]  # earlier turns of the open conversation, oldest first
    index: KnowledgeIndex


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The end of an answer: who made it and from which entries."""

    producer: str  # e.g. "kefu-kb", "openai-compatible"
    model: str  # never empty
    sources: Sequence[KbEntry]
    resolved: bool  # False when the answerer did not know and offered a person


AnswerEvent = Delta | Final


class Answerer(Protocol):
    name: str

    def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        """Yield Delta pieces, then exactly one Final."""
        ...
