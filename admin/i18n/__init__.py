"""The console's words in Chinese and English: each area's module here holds ``MESSAGES``
(``{"area.key": ("中文", "English")}``), collected when first needed."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "kefu_lang"


@cache
def catalogue() -> dict[str, tuple[str, str]]:
    """Every area's messages; two areas defining one key is a mistake caught here."""
    merged: dict[str, tuple[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        messages: dict[str, tuple[str, str]] = getattr(module, "MESSAGES", {})
        clash = merged.keys() & messages.keys()
        if clash:
            raise RuntimeError(f"admin/i18n/{info.name}.py redefines {sorted(clash)}")
        merged.update(messages)
    return merged


def translate(key: str, lang: str, **values: object) -> str:
    """The text of ``key`` in ``lang``; a missing key shows itself (tests look for them)."""
    pair = catalogue().get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**values) if values else text


def parse_accept_language(header: str) -> str | None:
    """The first of our languages the browser prefers (by q), or None."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else None


def pick_language(query: str | None, cookie: str | None, accept_language: str) -> str:
    """``?lang=``, then the ``kefu_lang`` cookie, then Accept-Language, else Chinese."""
    for value in (query, cookie):
        if value in LANGUAGES:
            return value
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE
