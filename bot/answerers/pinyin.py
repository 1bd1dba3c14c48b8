"""Chinese text in toneless pinyin, so a homophone typo (地止 for 地址) still matches."""

from __future__ import annotations

import re
from functools import lru_cache

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def has_han(text: str) -> bool:
    return _HAN_RUN.search(text) is not None


def spell(text: str) -> str:
    """``text`` with every run of Chinese characters replaced by its syllables, space-separated;
    everything else is kept. Homophones become the same word."""
    if len(text) <= 64:
        return _cached_spell(text)
    return _spell(text)


def _spell(text: str) -> str:
    from pypinyin import lazy_pinyin  # its dictionaries load on first use, not at start-up

    return _HAN_RUN.sub(lambda m: " " + " ".join(lazy_pinyin(m.group())) + " ", text).strip()


# Questions and phrasings recur; only short texts are kept, so what users type cannot fill memory.
_cached_spell = lru_cache(maxsize=1 << 14)(_spell)
