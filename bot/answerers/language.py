"""The language a question is asked in, which the answer and its fixed texts follow."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_LATIN = re.compile(r"[A-Za-z]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def is_clearly_chinese(text: str) -> bool:
    """Written mainly in Chinese characters (Japanese, which also uses them, has kana)."""
    han = len(_HAN.findall(text))
    return han >= 2 and not _KANA.search(text) and 2 * han >= len(_LATIN.findall(text))


def locale_language(locale: str | None) -> str:
    """``zh`` for a ``zh*`` locale tag, else ``en``."""
    return "zh" if (locale or "").lower().startswith("zh") else "en"


def question_language(question: str, locale: str | None) -> str:
    """``zh`` or ``en``: the question's own language, else (digits, emoji, one letter) the
    widget's locale. An English question on a Chinese page gets an English answer."""
    if is_clearly_chinese(question):
        return "zh"
    if _LATIN_WORD.search(question) and not _HAN.search(question) and not _KANA.search(question):
        return "en"
    return locale_language(locale)
