"""What a hit test shows: the entries the answerer ranks for a question, and what it would say.

The ranking itself belongs to the chat server's answerer; the console gets it through a plain
callable (``HitTester``) that the composition root hands in, so the console never imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RankedEntry:
    entry_id: str
    question: str
    score: float
    confident: bool  # good enough to answer with


@dataclass(frozen=True, slots=True)
class HitTestResult:
    question: str
    language: str  # "zh" or "en", as the answerer reads the question
    threshold: float  # the score an entry needs for this question
    ranked: list[RankedEntry]
    answer_entry_id: str | None  # the entry the robot answers with; None: "don't know"
    answer: str  # the text the built-in answerer sends
    kb_version: int


# (licensee id, question, locale) -> the result; raises NotFound for an unknown licensee.
HitTester = Callable[[str, str, str], Awaitable[HitTestResult]]

MAX_QUESTION_CHARS = 2000  # as a widget message
