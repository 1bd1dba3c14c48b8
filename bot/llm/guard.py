"""The leak guard: stops a streamed answer that starts to reproduce the model's instructions.

Every WINDOW-character stretch of the instructions' fixed text (after folding case and runs of
whitespace) is a pattern of one Aho-Corasick automaton, built once. Only the end of the output
that could still grow into such a stretch is held back: its longest suffix that occurs in the
instructions (found by binary search: every suffix of a substring is a substring). Ordinary text
shows at once; a leak is caught before any of the matching text has been shown.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import ahocorasick

from bot.answerers.contract import CallOutcome
from bot.llm.errors import ModelCallFailed
from bot.llm.prompt import instruction_segments

WINDOW = 24
HOLD = WINDOW - 1
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text.casefold())


@functools.cache
def instruction_text() -> str:
    """The normalised instructions, segments apart (no stretch spans two of them)."""
    return "\x00".join(normalize(segment) for segment in instruction_segments())


@functools.cache
def leak_automaton() -> Any:
    automaton = ahocorasick.Automaton()
    for segment in instruction_segments():
        text = normalize(segment)
        for start in range(len(text) - WINDOW + 1):
            automaton.add_word(text[start : start + WINDOW], start)
    automaton.make_automaton()
    return automaton


class LeakGuard:
    """Feed it the streamed text; it returns what may be shown now, or raises on a leak."""

    def __init__(self) -> None:
        self._automaton = leak_automaton()
        self._scanned_tail = ""  # the last WINDOW - 1 normalised characters already scanned
        self._held = ""

    def feed(self, text: str) -> str:
        scan = normalize(self._scanned_tail + text)
        if next(self._automaton.iter(scan), None) is not None:
            self._held = ""
            raise ModelCallFailed(CallOutcome.MALFORMED, "instructions leaked")
        self._scanned_tail = scan[-(WINDOW - 1) :]
        self._held += text
        cut = _release_point(self._held, instruction_text())
        shown, self._held = self._held[:cut], self._held[cut:]
        return shown

    def flush(self) -> str:
        """The text still held back, once the stream has ended without a leak."""
        shown, self._held = self._held, ""
        return shown


def _release_point(text: str, instructions: str) -> int:
    """Where the longest suffix of ``text`` that could start a leak begins (``len(text)``
    when none could): the longest one whose normalised form occurs in ``instructions``,
    looked for among the suffixes with at most HOLD non-space characters."""
    low, high = 0, _suffix_limit(text)  # suffix lengths; the one of length 0 always occurs
    while low < high:
        mid = (low + high + 1) // 2
        if normalize(text[len(text) - mid :]) in instructions:
            low = mid
        else:
            high = mid - 1
    return len(text) - low


def _suffix_limit(text: str) -> int:
    """The length of the longest suffix of ``text`` with at most HOLD non-space characters."""
    count = 0
    for i in range(len(text) - 1, -1, -1):
        if not text[i].isspace():
            count += 1
            if count > HOLD:
                return len(text) - 1 - i
    return len(text)
