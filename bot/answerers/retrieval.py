"""The built-in retrieval index: bilingual lexical matching of a question against FAQ entries."""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from bot.answerers.contract import Hit
from core.knowledge.entries import KbEntry

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Han, kana and Hangul are written without spaces between words: they are matched by character
# n-grams instead of words, which needs no segmentation dictionary (nothing to load at start-up).
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W\d_{_CJK}]+|\d+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_NOT_WORD = re.compile(r"[\W_]+")
# "don't" and "dont" must meet, so apostrophes join rather than split a word.
_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019\u02bc`\u00b4")

# Words found in questions about anything. In a small knowledge base they can be rare enough to
# look significant ("what" in "What are your opening hours?" would match "What is the capital of
# Mongolia?"), so their IDF gets a prior as if the knowledge base were large (see
# IndexSettings.function_prior). Negations are not among them: "card not working" and "card
# working" are different questions.
FUNCTION_WORDS = frozenset([
    "a", "an", "the", "i", "me", "my", "mine", "myself", "you", "your", "yours", "we", "our",
    "ours", "us", "he", "him", "his", "she", "her", "it", "its", "they", "them", "their",
    "this", "that", "these", "those", "is", "am", "are", "was", "were", "be", "been", "being",
    "do", "does", "did", "doing", "have", "has", "had", "having", "can", "could", "will",
    "would", "shall", "should", "may", "might", "must", "to", "of", "in", "on", "at", "for",
    "with", "from", "by", "about", "as", "into", "onto", "than", "then", "there", "here",
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "and", "or", "but",
    "if", "so", "also", "too", "very", "just", "please", "hi", "hello", "hey", "thanks",
    "thank", "ok", "okay", "im", "ive", "id", "youre",
])  # fmt: skip
FUNCTION_CJK = frozenset([
    "的", "了", "吗", "呢", "吧", "啊", "呀", "嘛", "么", "我", "你", "您", "他", "她", "它",
    "们", "是", "在", "有", "和", "与", "就", "都", "也", "还", "很", "请", "问", "这", "那",
    "哪", "个", "一", "下", "请问", "一下", "一个", "这个", "那个", "什么", "怎么", "怎样",
    "如何", "为什", "哪里", "哪个", "可以", "能否", "我的", "你们", "您好", "你好", "谢谢",
    "麻烦", "我们", "我想", "想要", "需要",
])  # fmt: skip


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, punctuation and symbols as single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return _NOT_WORD.sub(" ", text).strip()


def stem(word: str) -> str:
    """Strip English inflections (plural, -ed, -ing, final e) so 'charged' and 'charges' meet.

    Deliberately light: derivational stemming merges different questions ("transfer",
    "transferable"), and the character n-grams already bridge near-spellings and typos.
    """
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if (
            word.endswith(suffix)
            and len(base) >= 3
            and not (suffix == "ed" and base.endswith("e"))
            and any(ch in "aeiouy" for ch in base)
        ):
            word = base[:-1] if base[-1] == base[-2] and base[-1] not in "lsz" else base
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How text becomes features and how feature overlap becomes a confidence score.

    The defaults were chosen on training and validation data only (see docs/benchmarks.md).
    """

    char_ngrams: tuple[int, int] = (2, 4)  # inside each Latin word, padded with a space
    cjk_ngrams: tuple[int, int] = (1, 2)
    # Weight of each kind of feature: word, word pair, character n-gram, CJK n-gram.
    weights: tuple[float, float, float, float] = (3.0, 1.0, 1.0, 1.0)
    # IDF is computed as if there were this many more phrasings, made of function words only:
    # enough to keep them unremarkable in a small knowledge base, too few to matter in a large.
    function_prior: int = 30
    # score = nearest * cosine(best phrasing) + (1 - nearest) * cosine(entry centroid)
    nearest: float = 0.35
    # best() answers only at or above this score.
    threshold: float = 0.22
    # Large indexes first shortlist entries on their centroids, ignoring features found in
    # more than this many entries (too common to tell entries apart, and the slowest to scan),
    # then score the shortlist exactly; smaller indexes are scored exactly throughout.
    common_entries: int = 500
    shortlist: int = 64


DEFAULT_SETTINGS = IndexSettings()


# Only the start of a text is read: a customer's question says what it is about early, and the
# work per question (and so how long one question holds a core) must not grow with what a
# client chooses to send. With 3,000 entries a 2,000-character question cost 7.1x a short one
# read whole, 1.5x with this cut (bench/retrieval_speed.py, docs/benchmarks.md).
MAX_CHARS = 160


def features(text: str, settings: IndexSettings = DEFAULT_SETTINGS) -> tuple[list[str], ...]:
    """The features of one text by kind (see ``IndexSettings.weights``), then again those of
    them that come from function words only; only its first ``MAX_CHARS`` characters count."""
    text = text[:MAX_CHARS]
    words: list[str] = []
    pairs: list[str] = []
    chars: list[str] = []
    cjk: list[str] = []
    function: list[str] = []
    lo, hi = settings.char_ngrams
    cjk_lo, cjk_hi = settings.cjk_ngrams
    previous = ""
    previous_is_function = False
    for token in _TOKEN.findall(normalize(text)):
        if _IS_CJK.match(token):
            previous = ""
            cjk_features = cached_cjk_features if len(token) <= _CACHED_TOKEN else _cjk_features_of
            grams, function_grams = cjk_features(token, cjk_lo, cjk_hi)
            cjk += grams
            function += function_grams
            continue
        word_features = cached_word_features if len(token) <= _CACHED_TOKEN else _word_features_of
        word, is_function, grams = word_features(token, lo, hi)
        words.append("w" + word)
        if previous:
            pairs.append("p" + previous + " " + word)
            if is_function and previous_is_function:
                function.append(pairs[-1])
        previous, previous_is_function = word, is_function
        chars += grams
        if is_function:
            function.append(words[-1])
            function += grams
    return words, pairs, chars, cjk, function


def _word_features_of(token: str, lo: int, hi: int) -> tuple[str, bool, tuple[str, ...]]:
    """A Latin-script word's stem, whether it is a function word, its character n-grams."""
    padded = f" {token} "
    grams = tuple(
        "c" + padded[i : i + n]
        for n in range(lo, min(hi, len(padded)) + 1)
        for i in range(len(padded) - n + 1)
    )
    return stem(token), token in FUNCTION_WORDS, grams


def _cjk_features_of(token: str, lo: int, hi: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A run of CJK characters' n-grams, and those of them that are function words."""
    grams = tuple(
        "h" + token[i : i + n]
        for n in range(lo, min(hi, len(token)) + 1)
        for i in range(len(token) - n + 1)
    )
    return grams, tuple(g for g in grams if g[1:] in FUNCTION_CJK)


# Words recur from question to question (few distinct ones make up most text), so each one's
# stem and character n-grams are worked out once; runs of CJK characters likewise. Only short
# tokens are kept, so that what end users type cannot fill the memory: a cached token holds
# about 0.2 KiB, a 2,000-character one about 350 KiB.
_CACHED_TOKEN = 32
cached_word_features = lru_cache(maxsize=1 << 15)(_word_features_of)
cached_cjk_features = lru_cache(maxsize=1 << 13)(_cjk_features_of)


def _weighted(
    text: str, settings: IndexSettings
) -> tuple[IntArray, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Feature hashes of ``text``, their (1 + log tf) times the weight of their kind, and
    whether each comes from function words only."""
    hashes: list[IntArray] = []
    values: list[npt.NDArray[np.float64]] = []
    flags: list[npt.NDArray[np.bool_]] = []
    *kinds, function = features(text, settings)
    function_set = set(function)
    for kind, found in enumerate(kinds):
        if not found:
            continue
        counted = Counter(found)
        n = len(counted)
        hashes.append(np.fromiter(map(hash, counted), dtype=np.int64, count=n))
        tf = np.fromiter(counted.values(), dtype=np.float64, count=n)
        values.append((1 + np.log(tf)) * settings.weights[kind])
        if function_set:
            flags.append(np.fromiter(map(function_set.__contains__, counted), np.bool_, n))
        else:
            flags.append(np.zeros(n, dtype=np.bool_))
    if not hashes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.bool_)
    return np.concatenate(hashes), np.concatenate(values), np.concatenate(flags)


class KnowledgeBaseIndex:
    """TF-IDF over words, word pairs and character n-grams; each entry is scored against its
    closest phrasing and against the centroid of all its phrasings.

    Read-only after ``build``: ``search`` and ``best`` may run in several threads at once.
    Feature ids are Python string hashes, so an index is used only in the process that built it.
    """

    def __init__(
        self,
        entries: Sequence[KbEntry],
        settings: IndexSettings,
        vocab: IntArray,
        idf: FloatArray,
        phrasings: sp.csr_matrix,
        phrase_starts: IntArray,
        centroid_norms: FloatArray,
        shortlist_postings: sp.csr_matrix | None,
    ) -> None:
        self._entries = tuple(entries)
        self._settings = settings
        self._vocab = vocab  # sorted feature hashes
        self._idf = idf
        self._phrasings = phrasings  # phrasing x feature, rows of unit length, by entry
        self._starts = phrase_starts  # first phrasing row of each entry, and the end
        self._centroid_norms = centroid_norms  # length of each entry's sum of phrasings
        self._shortlist_postings = shortlist_postings  # feature x entry centroid, uncommon only
        # A small index is scored whole: through its postings (feature x phrasing), touching
        # only the question's features instead of every phrasing's.
        self._postings: sp.csr_matrix | None = None
        if shortlist_postings is None:
            self._postings = sp.csr_matrix(phrasings.T)
            self._postings.sort_indices()
            _freeze(self._postings)
        # A word the knowledge base never uses still counts in the question's length, so a
        # question mostly about something else scores low rather than matching on one word.
        n_docs = phrasings.shape[0] + settings.function_prior
        self._unknown_idf = math.log(1 + n_docs) + 1
        self._unknown_function_idf = math.log((1 + n_docs) / (1 + settings.function_prior)) + 1

    @classmethod
    def build(
        cls, entries: Sequence[KbEntry], settings: IndexSettings = DEFAULT_SETTINGS
    ) -> KnowledgeBaseIndex:
        hash_parts: list[IntArray] = []
        value_parts: list[npt.NDArray[np.float64]] = []
        function_parts: list[IntArray] = []
        row_sizes: list[int] = []
        starts = [0]
        for entry in entries:
            seen: set[str] = set()
            for phrasing in entry.phrasings:
                key = normalize(phrasing)
                if key in seen:
                    continue  # a repeated phrasing would only pull the centroid towards itself
                seen.add(key)
                hashes, values, is_function = _weighted(phrasing, settings)
                hash_parts.append(hashes)
                value_parts.append(values)
                function_parts.append(hashes[is_function])
                row_sizes.append(len(hashes))
            starts.append(len(row_sizes))
        n_rows = len(row_sizes)
        all_hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, dtype=np.int64)
        vocab, column = np.unique(all_hashes, return_inverse=True)
        df = np.bincount(column, minlength=len(vocab)).astype(np.float64)
        if function_parts:
            df[np.isin(vocab, np.concatenate(function_parts))] += settings.function_prior
        idf = np.log((1 + n_rows + settings.function_prior) / (1 + df)) + 1
        values = np.concatenate(value_parts) if value_parts else np.zeros(0)
        indptr = np.concatenate([[0], np.cumsum(row_sizes)])
        # A phrasing's features are distinct: one Counter per kind, and kinds prefixed apart.
        phrasings = sp.csr_matrix(
            ((values * idf[column]).astype(np.float32), column.astype(np.int32), indptr),
            shape=(n_rows, len(vocab)),
        )
        phrasings.sort_indices()
        phrasings = _unit_rows(phrasings)

        starts_arr = np.asarray(starts, dtype=np.int64)
        owner = np.repeat(np.arange(len(entries)), np.diff(starts_arr))
        to_entry = sp.csr_matrix(
            (np.ones(n_rows, dtype=np.float32), (owner, np.arange(n_rows))),
            shape=(len(entries), n_rows),
        )
        sums = sp.csr_matrix(to_entry @ phrasings)
        centroid_norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
        centroid_norms[centroid_norms == 0] = 1.0
        centroid_norms = centroid_norms.astype(np.float32)

        shortlist: sp.csr_matrix | None = None
        if len(entries) > settings.shortlist:
            entry_df = np.bincount(sums.indices, minlength=len(vocab))
            centroids = sp.csr_matrix(sp.diags(1.0 / centroid_norms) @ sums)
            keep = (entry_df <= settings.common_entries).astype(np.float32)
            shortlist = sp.csr_matrix((centroids @ sp.diags(keep)).T, dtype=np.float32)
            shortlist.eliminate_zeros()
            shortlist.sort_indices()
            _freeze(shortlist)
        _freeze(phrasings)
        for array in (vocab, idf, starts_arr, centroid_norms):
            array.flags.writeable = False
        return cls(
            entries,
            settings,
            vocab,
            idf.astype(np.float32),
            phrasings,
            starts_arr,
            centroid_norms,
            shortlist,
        )

    @property
    def size(self) -> int:
        return len(self._entries)

    @property
    def settings(self) -> IndexSettings:
        return self._settings

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (the entries themselves are not counted)."""
        total = sum(a.nbytes for a in (self._vocab, self._idf, self._starts, self._centroid_norms))
        for m in (self._phrasings, self._shortlist_postings, self._postings):
            if m is not None:
                total += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        return int(total)

    def search(self, text: str, k: int = 5) -> list[Hit]:
        """The k best entries sharing anything with ``text``, best first, scored 0 to 1."""
        if k <= 0 or not self._entries:
            return []
        query = self._query(text)
        if query is None:
            return []
        ids, weights = query
        if self._postings is not None:
            candidates = np.arange(len(self._entries), dtype=np.int64)
            scores = self._score_all(ids, weights)
        else:
            candidates = self._shortlist(ids, weights, k)
            scores = self._score(candidates, ids, weights)
        # Best first; equal scores keep the knowledge base's own order.
        order: Sequence[int]
        if k == 1 and self._postings is not None:
            order = [int(np.argmax(scores))]  # the first of equal best scores, as lexsort
        else:
            order = np.lexsort((candidates, -scores))[:k].tolist()
        return [
            Hit(self._entries[int(candidates[i])], float(scores[i])) for i in order if scores[i] > 0
        ]

    def best(self, text: str) -> Hit | None:
        """The best entry if its score reaches the threshold, else None (do not answer)."""
        hits = self.search(text, 1)
        if hits and self.confident(hits[0]):
            return hits[0]
        return None

    def confident(self, hit: Hit) -> bool:
        return hit.score >= self._settings.threshold

    def coverage(self, text: str) -> float:
        """The share (0 to 1) of ``text``'s feature weight that the knowledge base knows: low
        when the question is mostly about words no entry uses. Character n-grams inside Latin
        words are left out: a word no entry uses shares some with words that are used."""
        words_only = dataclasses.replace(
            self._settings, weights=(*self._settings.weights[:2], 0.0, self._settings.weights[3])
        )
        hashes, values, is_function = _weighted(text, words_only)
        if len(hashes) == 0 or len(self._vocab) == 0:
            return 0.0
        pos = np.searchsorted(self._vocab, hashes)
        pos[pos >= len(self._vocab)] = 0
        known = self._vocab[pos] == hashes
        weights = values[known] * self._idf[pos[known]]
        unknown = values[~known] * np.where(
            is_function[~known], self._unknown_function_idf, self._unknown_idf
        )
        total = float(weights @ weights) + float(unknown @ unknown)
        return float(weights @ weights) / total if total > 0 else 0.0

    def _query(self, text: str) -> tuple[npt.NDArray[np.int32], FloatArray] | None:
        hashes, values, is_function = _weighted(text, self._settings)
        if len(hashes) == 0 or len(self._vocab) == 0:
            return None
        pos = np.searchsorted(self._vocab, hashes)
        pos[pos >= len(self._vocab)] = 0
        known = self._vocab[pos] == hashes
        if not known.any():
            return None
        weights = values[known] * self._idf[pos[known]]
        unknown = values[~known] * np.where(
            is_function[~known], self._unknown_function_idf, self._unknown_idf
        )
        norm = math.sqrt(float(weights @ weights) + float(unknown @ unknown))
        return pos[known].astype(np.int32), (weights / norm).astype(np.float32)

    def _shortlist(self, ids: npt.NDArray[np.int32], weights: FloatArray, k: int) -> IntArray:
        if self._shortlist_postings is None:
            return np.arange(len(self._entries), dtype=np.int64)
        postings = self._shortlist_postings
        at, which = _gather(postings.indptr, ids)
        rough = np.bincount(
            postings.indices[at],
            weights=postings.data[at] * weights[which],
            minlength=len(self._entries),
        )
        n = min(max(self._settings.shortlist, k), int(np.count_nonzero(rough)))
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        return np.argpartition(-rough, n - 1)[:n].astype(np.int64)

    def _score_all(self, ids: npt.NDArray[np.int32], weights: FloatArray) -> FloatArray:
        """Every entry's score, from the postings of the question's features."""
        postings = self._postings
        assert postings is not None
        at, which = _gather(postings.indptr, ids)
        sims = np.bincount(
            postings.indices[at],
            weights=postings.data[at] * weights[which],
            minlength=postings.shape[1],
        )
        return self._mix(sims, self._starts[:-1], self._centroid_norms)

    def _mix(
        self, sims: npt.NDArray[Any], starts: IntArray, centroid_norms: FloatArray
    ) -> FloatArray:
        """Entry scores from the similarities of their phrasings, each entry's a run from its
        start."""
        nearest = np.maximum.reduceat(sims, starts)
        centroid = np.add.reduceat(sims, starts) / centroid_norms
        a = self._settings.nearest
        # Clipped only against float rounding: identical texts give 1.0000001 otherwise.
        return np.minimum(a * nearest + (1 - a) * centroid, 1.0).astype(np.float32)

    def _score(
        self, candidates: IntArray, ids: npt.NDArray[np.int32], weights: FloatArray
    ) -> FloatArray:
        if len(candidates) == 0:
            return np.zeros(0, dtype=np.float32)
        first = self._starts[candidates]
        counts = self._starts[candidates + 1] - first
        rows = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        dense = np.zeros(self._phrasings.shape[1], dtype=np.float32)
        dense[ids] = weights
        at, which = _gather(self._phrasings.indptr, rows)
        products = self._phrasings.data[at] * dense[self._phrasings.indices[at]]
        sims = np.bincount(which, weights=products, minlength=len(rows))
        return self._mix(sims, np.cumsum(counts) - counts, self._centroid_norms[candidates])


def _gather(
    indptr: npt.NDArray[np.int32], rows: npt.NDArray[np.integer[Any]]
) -> tuple[IntArray, IntArray]:
    """Positions in a CSR matrix's data of the given rows' values, and the row (0, 1, ...) of each.

    Done in NumPy directly: SciPy's fancy row indexing costs more in checks than in work here.
    """
    first = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1] - first
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(rows)), lengths)
    at = np.arange(total) + np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
    return at, which


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ matrix)


def _freeze(matrix: sp.csr_matrix) -> None:
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.flags.writeable = False
