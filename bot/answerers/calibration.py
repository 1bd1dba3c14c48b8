"""The "don't know" threshold of one knowledge base, read off its own phrasings."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.answerers.contract import Hit
from bot.answerers.language import question_language
from core.knowledge.entries import KbEntry

# Held-out phrasings beyond which another round (another index build) adds little.
ENOUGH = 1000


class _Searchable(Protocol):
    def search(self, text: str, k: int = 5) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The score an answer needs, by the question's language; ``default`` for the others."""

    by_language: dict[str, float]
    default: float

    def of(self, language: str) -> float:
        return self.by_language.get(language, self.default)


def held_out(
    entries: Sequence[KbEntry], round_: int
) -> tuple[list[KbEntry], list[tuple[str, str]]]:
    """The entries less one similar phrasing each (a different one each round), and the
    phrasings left out with their entry's id. Entries with one phrasing stay whole."""
    kept: list[KbEntry] = []
    out: list[tuple[str, str]] = []
    for entry in entries:
        if not entry.similar:
            kept.append(entry)
            continue
        i = round_ % len(entry.similar)
        out.append((entry.similar[i], entry.id))
        similar = entry.similar[:i] + entry.similar[i + 1 :]
        kept.append(dataclasses.replace(entry, similar=similar))
    return kept, out


def calibrate(
    entries: Sequence[KbEntry],
    build: Callable[[Sequence[KbEntry]], _Searchable],
    refusal_weight: float,
    min_samples: int,
    rounds: int,
    default: float,
    floor: float = 0.0,
    ceiling: float = 1.0,
    weight_by_language: Mapping[str, float] | None = None,
    bounds_by_language: Mapping[str, tuple[float, float]] | None = None,
) -> Thresholds:
    """Leave-one-out over the entries' similar phrasings: each is asked of an index built without
    it. Its own entry's score, when that entry comes first, is one an answer should clear; the
    best score of any other entry is what a question the knowledge base does not cover would
    get (a near miss). The threshold, per language, is the score that best separates the two,
    counting each near miss let through ``refusal_weight`` times a refused right answer (or the
    language's own weight in ``weight_by_language``), kept within ``floor`` and ``ceiling`` (or
    the language's own in ``bounds_by_language``). A
    language with fewer than ``min_samples`` phrasings takes the pooled value, or ``default``
    when that has too few.
    """
    most = max((len(e.similar) for e in entries), default=0)
    answers: dict[str, list[float]] = defaultdict(list)
    misses: dict[str, list[float]] = defaultdict(list)
    for round_ in range(min(rounds, most)):
        kept, asked = held_out(entries, round_)
        if not asked:
            break
        if sum(map(len, misses.values())) >= ENOUGH:
            break  # a large knowledge base gives enough phrasings in one round
        index = build(kept)
        for text, entry_id in asked:
            language = question_language(text, None)
            hits = index.search(text, 2)
            wrong = [h.score for h in hits if h.entry.id != entry_id]
            misses[language].append(wrong[0] if wrong else 0.0)
            if hits and hits[0].entry.id == entry_id:
                answers[language].append(hits[0].score)
    pooled_answers = [s for values in answers.values() for s in values]
    pooled_misses = [s for values in misses.values() for s in values]

    def bounded(value: float, language: str | None = None) -> float:
        low, high = (bounds_by_language or {}).get(language or "", (floor, ceiling))
        return min(high, max(low, value))

    fallback = default
    if len(pooled_misses) >= min_samples:
        fallback = bounded(separating(pooled_answers, pooled_misses, refusal_weight))
    by_language = {
        language: bounded(
            separating(
                answers[language], values, (weight_by_language or {}).get(language, refusal_weight)
            ),
            language,
        )
        for language, values in misses.items()
        if len(values) >= min_samples
    }
    return Thresholds(by_language, fallback)


def separating(answers: Sequence[float], misses: Sequence[float], refusal_weight: float) -> float:
    """The threshold with the fewest refused ``answers`` plus ``refusal_weight`` times the
    ``misses`` let through; halfway between neighbouring scores, so either side has a margin."""
    a = np.sort(np.asarray(answers, dtype=np.float64))
    m = np.sort(np.asarray(misses, dtype=np.float64))
    candidates = np.unique(np.concatenate([a, m, [0.0, 1.0]]))
    cuts = (candidates[:-1] + candidates[1:]) / 2
    refused = np.searchsorted(a, cuts)  # answers below the cut
    let_through = len(m) - np.searchsorted(m, cuts)  # misses at or above it
    cost = refused + refusal_weight * let_through
    return float(cuts[int(np.argmin(cost))])
