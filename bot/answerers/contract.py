"""The one interface every answerer implements: the built-in knowledge-base answerer and the
LangChain model backends alike. The engine knows nothing else about how an answer is made."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.chat.frames import Role
from core.knowledge.entries import KbEntry


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved knowledge-base entry with its score (higher is better)."""

    entry: KbEntry
    score: float
    # The score this hit needed to be answered with, when the index calibrates one per question
    # (per knowledge base and language); None when the index has one fixed threshold.
    threshold: float | None = None


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

    def confident(self, hit: Hit) -> bool:
        """Whether ``hit`` (a search result) is good enough to answer with: ``best`` without
        searching again."""
        ...


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str


class CallOutcome(StrEnum):
    """How one call to a model provider ended (the token ledger keeps it)."""

    OK = "ok"
    TIMEOUT_FIRST_TOKEN = "timeout_first_token"  # noqa: S105 - not a password
    TIMEOUT_TOTAL = "timeout_total"
    HTTP_ERROR = "http_error"
    RETIRED = "retired"  # the provider no longer serves the model
    MALFORMED = "malformed"  # a broken or cut stream
    # The stream was stopped: the end user left, or the content filter blocked the answer. The
    # tokens the provider reported before the stop are counted (often none: usage comes last).
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call to a model provider, reported as it ends, whatever the outcome."""

    provider: str  # "openai-compatible" or "ollama"
    model: str  # the model the provider says answered, else the one asked for
    input_tokens: int
    output_tokens: int
    cache_hit_tokens: int  # part of input_tokens served from the provider's cache
    latency_ms: int  # request sent -> stream ended or failed
    first_token_ms: int | None  # request sent -> first content, None when none came
    outcome: CallOutcome


def _ignore(record: CallRecord) -> None:
    return None


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    licensee_id: str
    question: str
    locale: str  # "zh-CN" or "en" (anything else is treated by its language prefix)
    history: Sequence[Turn]  # earlier turns of the open conversation, oldest first
    index: KnowledgeIndex
    conversation_id: str | None = None
    business: str = ""  # the licensee's name, for the model's system prompt
    report: Callable[[CallRecord], None] = _ignore  # every model call, for the ledger


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer text, in order.

    ``whole`` is the whole answer the piece belongs to, when the answerer knows it before the
    first piece (the built-in answerer does): the pieces carrying the same ``whole`` join to
    exactly it. The content filter then checks that text once instead of piece by piece.
    """

    text: str
    whole: str | None = None


@dataclass(frozen=True, slots=True)
class Final:
    """The end of an answer: who made it and from which entries."""

    producer: str  # e.g. "kefu-kb", "openai-compatible"
    model: str  # never empty
    sources: Sequence[KbEntry]
    resolved: bool  # False when the answerer did not know and offered a person


@dataclass(frozen=True, slots=True)
class Restart:
    """Forget the pieces streamed so far: what follows replaces them.

    A fallback chain yields it when a link fails after it had started to stream, before the next
    link answers; the content filter when a streamed answer turns out to be blocked.
    """

    reason: str


AnswerEvent = Delta | Restart | Final


class Answerer(Protocol):
    name: str

    def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        """Yield Delta pieces (a Restart discards those before it), then exactly one Final.

        An answerer that cannot answer raises; a fallback chain then asks its next link.
        """
        ...
