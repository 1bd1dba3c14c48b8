"""A content filter for what end users ask and what the robot answers, in Chinese and English.

Matching works on a normalised view of the text, built one original character at a time (so the
view never depends on how a stream is chunked). Each character is NFKC-normalised and casefolded
(full-width forms become half-width, "Ｇ" and "G" both become "g"), combining marks are stripped
("gámbling", strike-through letters), and zero-width and other invisible format characters are
dropped as if absent. What is left is either a *content* character (a letter or digit: CJK, or
word-forming such as Latin) or a *separator* (white space, punctuation, symbols, controls).

A term matches a run of content characters equal to its own content characters, with at most
``MAX_GAP`` separator characters between any two of them ("赌 博", "g.a.m.b.l.i.n.g", "buy-cocaine"
all match; "赌 * 博" does not). A term that begins (ends) with a word-forming character only
matches where the text has no word-forming character right before (after) it, so an English term
never matches inside a longer word ("ass" is not in "class"); CJK ends match anywhere. A ``Match``
names the term as written in the list and its span in the original text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import ahocorasick

from core.errors import ConfigError
from core.moderation.word_list import DEFAULT_WORD_LIST, WordList, load_word_list, parse_word_list

__all__ = [
    "DEFAULT_WORD_LIST",
    "MAX_GAP",
    "VERDICTS",
    "Match",
    "Matcher",
    "StreamGuard",
    "WordList",
    "clean_cut",
    "load_word_list",
    "parse_word_list",
]

MAX_GAP: Final = 2  # separator characters allowed between two characters of a term
VERDICTS: Final = 4096  # texts whose verdict a Matcher remembers (find_known)
_SEP, _WORD, _CJK = 0, 1, 2
_BREAK: Final = "\x00"  # fed to the automaton where a gap exceeds MAX_GAP; never in a term
_INVISIBLE_LETTERS: Final = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers
_KANA_VOICING: Final = frozenset("\u3099\u309a")  # marks that change a kana, not decorate it
_CJK_RANGES: Final = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # radicals
    (0x3000, 0x9FFF),  # kana, Bopomofo, Hangul compatibility Jamo, Han (with extension A)
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),  # Hangul syllables
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x3FFFF),  # Han extensions B and later
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


@lru_cache(maxsize=8192)
def _fold(char: str) -> tuple[tuple[str, int], ...]:
    """The normalised characters one original character stands for, each with its kind."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(
        c for c in decomposed if c in _KANA_VOICING or unicodedata.category(c) not in ("Mn", "Me")
    )
    if kept != decomposed:
        text = unicodedata.normalize("NFC", kept)
    folded: list[tuple[str, int]] = []
    for c in text:
        category = unicodedata.category(c)
        if category == "Cf" or c in _INVISIBLE_LETTERS:
            continue
        if category[0] in "LN" or category == "Mc":
            folded.append((c, _CJK if _is_cjk(c) else _WORD))
        else:
            folded.append((c, _SEP))
    return tuple(folded)


class _ContentOnly(dict[int, str]):
    """A ``str.translate`` table: each character to its normalised content characters, and
    separators and invisible characters to nothing. Filled as characters are met (those of the
    Basic Multilingual Plane kept, so the table stays small)."""

    def __missing__(self, code: int) -> str:
        content = "".join(c for c, kind in _fold(chr(code)) if kind != _SEP)
        if code < 0x10000:
            self[code] = content
        return content


_CONTENT_ONLY = _ContentOnly()


def clean_cut(text: str, at: int) -> bool:
    """Whether ``text[:at]`` shown alone can hold no term that ``text`` does not: true where the
    cut follows a separator (invisible characters aside), or at either end.

    A match ends on a content character; if a separator follows it in the prefix, the same
    separator follows it in the whole text, so every match in such a prefix is one of the
    whole's. Cut inside a word, "cock" of "cockpit" would be one of its own.
    """
    for i in range(at - 1, -1, -1):
        folded = _fold(text[i])
        if folded:
            return folded[-1][1] == _SEP
    return True


@dataclass(frozen=True, slots=True)
class Match:
    """A blocked term found in a text: ``text[start:end]`` is what matched, first to last character.

    Offsets count original characters; in a stream they count from the start of the whole answer.
    """

    term: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Term:
    text: str  # as written in the list
    length: int  # content characters
    bounded_start: bool  # starts with a word-forming character, so needs a word boundary there
    bounded_end: bool


class Matcher:
    """A word list compiled once into an Aho-Corasick automaton; immutable and shareable.

    ``longest`` is the most content characters a term has (0 for an empty list, which blocks
    nothing). Raises ``ConfigError`` naming the list when a term has no content character.
    """

    def __init__(self, word_list: WordList) -> None:
        self.word_list = word_list
        terms: dict[str, _Term] = {}
        for term in word_list.terms:
            content = [(c, kind) for ch in term for c, kind in _fold(ch) if kind != _SEP]
            if not content:
                raise ConfigError(
                    f"sensitive-word list {word_list.source}: term {term!r} has no letter, "
                    "digit or CJK character to match"
                )
            key = "".join(c for c, _ in content)
            if key not in terms:
                terms[key] = _Term(term, len(key), content[0][1] == _WORD, content[-1][1] == _WORD)
        self.longest: int = max((len(key) for key in terms), default=0)
        self._automaton: Any = None
        self._verdicts: dict[str, Match | None] = {}  # find() of texts seen often, bounded
        if terms:
            self._automaton = ahocorasick.Automaton()
            for key, value in terms.items():
                self._automaton.add_word(key, value)
            self._automaton.make_automaton()

    def find(self, text: str) -> Match | None:
        """The first blocked term in ``text`` (the one ending first; the longest if several do)."""
        if self._automaton is None:
            return None
        # Any match is a run of consecutive content characters, so a text whose content alone
        # holds no term at all is clean; most texts are decided here, without the scan.
        if next(self._automaton.iter(text.translate(_CONTENT_ONLY)), None) is None:
            return None
        scan = _Scan(self)
        found = scan.push(text)
        return found if found is not None else scan.close()

    def find_known(self, text: str) -> Match | None:
        """``find``, remembered for up to ``VERDICTS`` texts: for answers that recur verbatim,
        such as a knowledge base's, so each is scanned once rather than on every reply."""
        try:
            return self._verdicts[text]
        except KeyError:
            pass
        found = self.find(text)
        if len(self._verdicts) >= VERDICTS:
            self._verdicts.clear()
        self._verdicts[text] = found
        return found

    def blocked(self, text: str) -> bool:
        """Whether ``text`` contains a blocked term."""
        return self.find(text) is not None


class _Scan:
    """One text (whole, or pushed piece by piece) being matched, in O(characters pushed).

    Every normalised character goes through the automaton exactly once; besides that only the
    last ``longest + 1`` content characters are kept (offsets, gaps, kinds), to decide word
    boundaries and spans. A candidate ending on the last character waits for the next one.
    """

    def __init__(self, matcher: Matcher) -> None:
        self._longest = matcher.longest
        automaton = matcher._automaton
        self._search: Any = None if automaton is None else automaton.iter("")
        self.consumed = 0  # original characters pushed
        self.scanned = 0  # characters fed to the automaton
        self._base = 0  # index of the first entry kept, among all entries so far
        self._starts: list[int] = []  # per entry: offset of the original character it comes from
        self._gaps: list[int] = []  # per entry: separators between it and the entry before
        self._words: list[bool] = []  # per entry: a word-forming character (False for a break)
        self._gap = 0  # separators after the last entry
        self._last_break = -1  # index of the last break entry
        self._pending: list[tuple[int, _Term]] = []  # candidates ending on the last entry

    def push(self, text: str) -> Match | None:
        """Takes the next ``text``; the first match now decided, if any."""
        fed: list[str] = []
        for char in text:
            offset = self.consumed
            self.consumed += 1
            counted = False  # a run of separators inside one original character counts once
            for c, kind in _fold(char):
                if kind != _SEP:
                    self._add(offset, kind == _WORD)
                    fed.append(c)
                    counted = False
                elif not counted:
                    counted = True
                    self._gap += 1
                    if self._gap == MAX_GAP + 1 and self._count > 0:
                        self._add(offset, False)
                        self._gap = MAX_GAP + 1
                        self._last_break = self._count - 1
                        fed.append(_BREAK)
        found = self._settle_pending(closed=False)
        if found is None and fed and self._search is not None:
            found = self._scan("".join(fed))
        self._trim()
        return found

    def close(self) -> Match | None:
        """Ends the text; the match that only its end could decide, if any."""
        return self._settle_pending(closed=True)

    def safe_end(self) -> int:
        """Offset before which no character can belong to a match not yet found.

        A match not yet decided ends on the last entry or later, so it starts within the last
        ``longest`` entries, and after the last break.
        """
        count = self._count
        hold = max(count - self._longest, self._last_break + 1, 0)
        return self.consumed if hold >= count else self._starts[hold - self._base]

    @property
    def _count(self) -> int:
        return self._base + len(self._starts)

    def _add(self, offset: int, word: bool) -> None:
        self._starts.append(offset)
        self._gaps.append(self._gap)
        self._words.append(word)
        self._gap = 0

    def _scan(self, chunk: str) -> Match | None:
        self._search.set(chunk, False)
        self.scanned += len(chunk)
        best: tuple[int, _Term] | None = None
        found: tuple[int, _Term]
        for found in self._search:
            end, term = found
            if best is not None and end > best[0]:
                break
            if not self._free_before(end - term.length + 1, term):
                continue
            if term.bounded_end:
                free = self._free_after(end, closed=False)
                if free is None:  # ends on the last entry: the next character decides
                    self._pending.append(found)
                    continue
                if not free:
                    continue
            if best is None or term.length > best[1].length:
                best = found
        return None if best is None else self._match(*best)

    def _settle_pending(self, closed: bool) -> Match | None:
        if not self._pending:
            return None
        free = self._free_after(self._pending[0][0], closed)
        if free is None:
            return None
        pending, self._pending = self._pending, []
        if not free:
            return None
        return self._match(*max(pending, key=lambda candidate: candidate[1].length))

    def _free_before(self, start: int, term: _Term) -> bool:
        if not term.bounded_start or start == 0:
            return True
        i = start - self._base
        return self._gaps[i] > 0 or not self._words[i - 1]

    def _free_after(self, end: int, closed: bool) -> bool | None:
        """Whether no word-forming character follows entry ``end``; None while unknown."""
        if end + 1 < self._count:
            i = end + 1 - self._base
            return self._gaps[i] > 0 or not self._words[i]
        return True if self._gap > 0 or closed else None

    def _match(self, end: int, term: _Term) -> Match:
        start = self._starts[end - term.length + 1 - self._base]
        return Match(term.text, start, self._starts[end - self._base] + 1)

    def _trim(self) -> None:
        keep = self._longest + 1
        if len(self._starts) > 2 * keep + 64:
            cut = len(self._starts) - keep
            del self._starts[:cut], self._gaps[:cut], self._words[:cut]
            self._base += cut


class StreamGuard:
    """Filters one streamed answer: shows what is safe, holds back what might still be blocked.

    Guarantees, whatever the chunking: no character of a blocked term is ever returned; what
    ``feed`` and ``finish`` return, concatenated, is the answer itself when nothing is blocked;
    ``blocked`` is the match ``Matcher.find`` reports for the whole answer (or for the answer so
    far, where streaming stopped). Once ``blocked`` is set, ``feed`` and ``finish`` return "".

    Hold-back rule: everything from the first of the last ``matcher.longest`` content characters
    on stays held (with the separators and invisible characters among and after them), except that
    nothing before a gap of more than ``MAX_GAP`` separators is held. That covers every span a term
    could still take, however many separators it uses. Work per piece is O(piece) amortised.
    """

    def __init__(self, matcher: Matcher) -> None:
        self._scan = _Scan(matcher)
        self._held: list[str] = []  # pieces (or their tails) not yet returned
        self._returned = 0  # original characters returned so far
        self._blocked: Match | None = None
        self._finished = False

    @property
    def blocked(self) -> Match | None:
        """The blocked term found, or None."""
        return self._blocked

    @property
    def fed(self) -> int:
        """How many characters have been fed (or taken as shown) so far."""
        return self._scan.consumed

    @property
    def held(self) -> int:
        """How many characters fed are held back, not yet returned."""
        return self._scan.consumed - self._returned

    @property
    def scanned(self) -> int:
        """How many normalised characters the automaton has stepped through (each one once)."""
        return self._scan.scanned

    def feed(self, piece: str) -> str:
        """The text that is safe to show now; "" once blocked. Raises after ``finish``."""
        if self._finished:
            raise RuntimeError("StreamGuard.feed after finish")
        if self._blocked is not None:
            return ""
        found = self._scan.push(piece)
        if found is not None:
            return self._block(found)
        self._held.append(piece)
        return self._release(self._scan.safe_end())

    def finish(self) -> str:
        """Everything still held, when the whole answer is clean; "" once blocked or finished."""
        if self._finished or self._blocked is not None:
            self._finished = True
            return ""
        self._finished = True
        found = self._scan.close()
        if found is not None:
            return self._block(found)
        return self._release(self._scan.consumed)

    def _block(self, found: Match) -> str:
        self._blocked = found
        self._held = []
        return ""

    def _release(self, upto: int) -> str:
        if upto <= self._returned:
            return ""
        held = "".join(self._held)
        cut = upto - self._returned
        self._held = [held[cut:]] if cut < len(held) else []
        self._returned = upto
        return held[:cut]
