"""Sensitive-word lists: plain UTF-8 text, one term per line.

A line whose first non-blank character is ``#`` is a comment, blank lines are ignored, and every
other line, stripped of surrounding white space, is one term (it may contain spaces: "buy cocaine").
A leading byte-order mark is tolerated. The default list ships inside the package as
``core/data/sensitive_words.txt``; how terms are matched is ``core.moderation.matcher``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from core.errors import ConfigError

DEFAULT_WORD_LIST: Final = Path(__file__).resolve().parent / "data" / "sensitive_words.txt"


@dataclass(frozen=True, slots=True)
class WordList:
    """Terms to block, as written, each once, in order of first appearance.

    ``source`` names where the terms came from (a file name), for error messages only.
    """

    terms: tuple[str, ...]
    source: str = "<given terms>"


def parse_word_list(text: str, source: str = "<given text>") -> WordList:
    """The terms of a list's ``text``: comments and blank lines dropped, duplicates kept once."""
    terms: dict[str, None] = {}
    for line in text.splitlines():
        term = line.strip()
        if term and not term.startswith("#"):
            terms.setdefault(term, None)
    return WordList(tuple(terms), source)


def load_word_list(path: Path | None = None) -> WordList:
    """The list in the file at ``path``, or the default list when ``path`` is None.

    Raises ``ConfigError`` naming the file when it is missing, cannot be read, or is not UTF-8.
    """
    file = DEFAULT_WORD_LIST if path is None else path
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(f"sensitive-word list {file} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"sensitive-word list {file} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read sensitive-word list {file}: {exc.strerror or exc}") from exc
    return parse_word_list(text, str(file))
