"""The leak guard: stops a streamed answer that starts to reproduce the model's instructions.

Every WINDOW-character stretch of the instructions' fixed text (after folding case and runs of
whitespace) is a pattern of one Aho-Corasick automaton, built once. Output is released only while
at least HOLD non-space characters stay held back, so that a leak is caught before any of the
matching text has been shown.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import ahocorasick

from bot.answerers.base import CallOutcome
from bot.llm.errors import ModelCallFailed
from bot.llm.prompt import instruction_segments

WINDOW = 24
HOLD = WINDOW - 1
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text.casefold())


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
        cut = _release_point(self._held)
        shown, self._held = self._held[:cut], self._held[cut:]
        return shown

    def flush(self) -> str:
        """The text still held back, once the stream has ended without a leak."""
        shown, self._held = self._held, ""
        return shown


def _release_point(text: str) -> int:
    """Where the shortest suffix of ``text`` holding HOLD non-space characters starts."""
    count = 0
    for i in range(len(text) - 1, -1, -1):
        if not text[i].isspace():
            count += 1
            if count == HOLD:
                return i
    return 0
