"""Homophone typos put right against a knowledge base's own words, before retrieval.

A pinyin keyboard makes typos of the same sound (退贷 for 退货, 地止 for 地址). A character that
forms no two-character word the knowledge base uses, next to either neighbour, is replaced by
the character of the same toneless pinyin that does; a question without such typos is unchanged.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from bot.answerers.pinyin import has_han

_HAN_LO, _HAN_HI = "\u4e00", "\u9fff"


def _is_han(ch: str) -> bool:
    return _HAN_LO <= ch <= _HAN_HI


@lru_cache(maxsize=1 << 15)  # characters in use are a few thousand
def sound(ch: str) -> str:
    """A character's toneless pinyin (its most common reading)."""
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0]


class HomophoneFixer:
    """Read-only once built: used from several threads at once."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._pairs: set[str] = set()
        by_sound: dict[str, set[str]] = defaultdict(set)
        for text in texts:
            for a, b in itertools.pairwise(text):
                if _is_han(a) and _is_han(b):
                    self._pairs.add(a + b)
            for ch in text:
                if _is_han(ch):
                    by_sound[sound(ch)].add(ch)
        self._by_sound = {k: tuple(sorted(v)) for k, v in by_sound.items()}

    def _fit(self, left: str, ch: str, right: str) -> int:
        """How many of the character's two neighbours it forms a known word with."""
        return (left + ch in self._pairs) + (ch + right in self._pairs)

    def fix(self, text: str) -> str:
        if not has_han(text):
            return text
        chars = list(text)
        for i, ch in enumerate(chars):
            if not _is_han(ch):
                continue
            left = chars[i - 1] if i > 0 else ""
            right = chars[i + 1] if i + 1 < len(chars) else ""
            if self._fit(left, ch, right) > 0:
                continue
            best, best_fit = ch, 0
            for other in self._by_sound.get(sound(ch), ()):
                fit = self._fit(left, other, right)
                if fit > best_fit:
                    best, best_fit = other, fit
            chars[i] = best
        return "".join(chars)
