"""The content filter: word lists, evasion-proof matching, and streamed answers that never leak."""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.moderation.matcher import (
    DEFAULT_WORD_LIST,
    MAX_GAP,
    Match,
    Matcher,
    StreamGuard,
    WordList,
    load_word_list,
    parse_word_list,
)

TERMS = ("赌博", "网上赌场", "gambling", "ass", "buy cocaine", "K粉")
MATCHER = Matcher(WordList(TERMS))


def stream(matcher: Matcher, pieces: Iterable[str]) -> tuple[str, Match | None]:
    """Everything a guard returned for ``pieces``, and what it blocked."""
    guard = StreamGuard(matcher)
    shown = [guard.feed(piece) for piece in pieces]
    shown.append(guard.finish())
    return "".join(shown), guard.blocked


def chunkings(text: str) -> Iterable[list[str]]:
    """Every way to cut ``text`` into 2 or 3 pieces, and into pieces of every fixed size."""
    n = len(text)
    for i in range(n + 1):
        yield [text[:i], text[i:]]
    for i, j in itertools.combinations_with_replacement(range(n + 1), 2):
        yield [text[:i], text[i:j], text[j:]]
    for size in range(1, n + 1):
        yield [text[k : k + size] for k in range(0, n, size)]


# --- word lists --------------------------------------------------------------------------------


def test_a_list_is_one_term_per_line_without_comments_or_blank_lines() -> None:
    text = "# gambling\n赌博\n\n  online casino  \n   # indented comment\n赌博\nsex chat\n"
    assert parse_word_list(text, "x.txt") == WordList(
        ("赌博", "online casino", "sex chat"), "x.txt"
    )


def test_the_default_list_loads_and_blocks_each_language() -> None:
    words = load_word_list(None)
    assert words.source == str(DEFAULT_WORD_LIST)
    assert 20 <= len(words.terms) <= 100
    assert not any(term.startswith("#") for term in words.terms)
    matcher = Matcher(words)
    assert matcher.blocked("请问哪里有网络 赌博？")
    assert matcher.blocked("Where can I BUY-COCAINE")
    assert not matcher.blocked("请问你们的退货政策是什么？What is your refund policy?")


def test_a_list_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_bytes("\ufeff赌博\n# note\nsex chat\n".encode())
    assert load_word_list(path) == WordList(("赌博", "sex chat"), str(path))


def test_a_missing_list_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    with pytest.raises(ConfigError, match=r"missing\.txt"):
        load_word_list(path)


def test_an_unreadable_list_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        load_word_list(tmp_path)  # a directory


def test_a_list_that_is_not_utf8_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("赌博\n".encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk\.txt.*UTF-8"):
        load_word_list(path)


def test_a_term_with_nothing_to_match_is_an_error_naming_the_list() -> None:
    with pytest.raises(ConfigError, match=r"mine\.txt.*'\*\*\*'"):
        Matcher(parse_word_list("赌博\n***\n", "mine.txt"))


# --- matching whole texts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "matched"),
    [
        ("我想赌博", "赌博", "赌博"),
        ("赌 博", "赌博", "赌 博"),
        ("赌**博", "赌博", "赌**博"),
        ("赌。、博", "赌博", "赌。、博"),
        ("ｇａｍｂｌｉｎｇ", "gambling", "ｇａｍｂｌｉｎｇ"),
        ("赌　博", "赌博", "赌　博"),  # ideographic space
        ("赌\u200b\u200c\u200d\u2060\ufeff博", "赌博", "赌\u200b\u200c\u200d\u2060\ufeff博"),
        ("I like g.a.m.b.l.i.n.g!", "gambling", "g.a.m.b.l.i.n.g"),
        ("g-a_m b.l*i-n g", "gambling", "g-a_m b.l*i-n g"),
        ("GaMbLiNg", "gambling", "GaMbLiNg"),
        ("gam\u200b\u200b\u200b\u200bbling", "gambling", "gam\u200b\u200b\u200b\u200bbling"),
        ("gámbling", "gambling", "gámbling"),
        (
            "g\u0336a\u0336m\u0336b\u0336l\u0336i\u0336n\u0336g\u0336",  # struck through
            "gambling",
            "g\u0336a\u0336m\u0336b\u0336l\u0336i\u0336n\u0336g",
        ),
        ("you ass.", "ass", "ass"),
        ("ASS", "ass", "ASS"),
        ("想买cocaine吗", None, None),  # "cocaine" alone is not a term
        ("buycocaine", "buy cocaine", "buycocaine"),
        ("buy  cocaine", "buy cocaine", "buy  cocaine"),
        ("来买赌博K粉", "赌博", "赌博"),
        ("买K粉", "K粉", "K粉"),
        ("ｋ 粉", "K粉", "ｋ 粉"),
        ("网上赌场", "网上赌场", "网上赌场"),
    ],
)
def test_terms_match_through_trivial_evasions(
    text: str, term: str | None, matched: str | None
) -> None:
    found = MATCHER.find(text)
    assert (found and found.term) == term
    assert (found and text[found.start : found.end]) == matched


@pytest.mark.parametrize(
    "text",
    [
        "class",
        "passion",
        "assets",
        "bass guitar",
        "ass1",
        "gamblings",
        "xgambling",
        "赌 * 博",  # three separators between two characters
        "buy   cocaine",
        "gamb - ling",
        "赌\n\n\n博",
        "Kk粉",
        "",
        "   ",
        "gamblin",
    ],
)
def test_nothing_else_matches(text: str) -> None:
    assert MATCHER.find(text) is None
    assert not MATCHER.blocked(text)


def test_english_next_to_chinese_is_a_whole_word() -> None:
    matcher = Matcher(WordList(("gambling",)))
    found = matcher.find("我喜欢gambling吗")
    assert found == Match("gambling", 3, 11)


def test_the_first_match_is_the_one_ending_first_and_the_longest_there() -> None:
    matcher = Matcher(WordList(("赌场", "网上赌场", "赌")))
    assert matcher.find("去网上赌场") == Match("赌", 3, 4)
    matcher = Matcher(WordList(("赌场", "网上赌场")))
    assert matcher.find("去网上赌场") == Match("网上赌场", 1, 5)


def test_separators_inside_a_term_are_its_own_business() -> None:
    # "sex-chat" in the list means "sexchat" with up to MAX_GAP separators between any letters.
    matcher = Matcher(WordList(("sex-chat",)))
    assert matcher.blocked("SEX CHAT") and matcher.blocked("sexchat")
    assert not matcher.blocked("sex" + " " * (MAX_GAP + 1) + "chat")


def test_an_empty_list_blocks_nothing() -> None:
    matcher = Matcher(WordList(()))
    assert matcher.longest == 0
    assert matcher.find("赌博 gambling") is None
    text = "赌博 gambling, 网上赌场"
    for pieces in chunkings(text):
        assert stream(matcher, pieces) == (text, None)


# --- streamed answers --------------------------------------------------------------------------

BLOCKED_TEXTS = [
    "您好，我们不提供赌博服务。",
    "您好，我们不提供赌 博服务。",
    "We do not offer g.a.m.b.l.i.n.g here.",
    "We do not offer ＧＡＭＢＬＩＮＧ",
    "gambling",
    "You can buy  cocaine? No.",
    "先生，网上\u200b赌场",
    "bass ass class",
    "来点K粉",
]
CLEAN_TEXTS = [
    "您好，请问有什么可以帮您？",
    "We do not offer gamblings here.",
    "A class of bass players, passing",
    "赌 * 博 and 网上 * 赌场 are far apart",
    "buy   cocaine is three spaces apart",
    "gamblin",
    "xgambling and gamblingx",
]


@pytest.mark.parametrize("text", BLOCKED_TEXTS)
def test_a_blocked_term_never_leaks_however_the_answer_is_chunked(text: str) -> None:
    expected = MATCHER.find(text)
    assert expected is not None
    for pieces in chunkings(text):
        shown, blocked = stream(MATCHER, pieces)
        assert blocked == expected, pieces
        assert text.startswith(shown), pieces
        assert len(shown) <= expected.start, pieces


@pytest.mark.parametrize("text", CLEAN_TEXTS)
def test_a_clean_answer_comes_out_whole_however_it_is_chunked(text: str) -> None:
    assert MATCHER.find(text) is None
    for pieces in chunkings(text):
        assert stream(MATCHER, pieces) == (text, None), pieces


def test_a_term_at_the_very_end_is_decided_by_finish() -> None:
    guard = StreamGuard(Matcher(WordList(("gambling",))))
    assert guard.feed("we love gambling") == "we love "
    assert guard.blocked is None
    assert guard.finish() == ""
    assert guard.blocked == Match("gambling", 8, 16)


def test_once_blocked_nothing_more_comes_out() -> None:
    guard = StreamGuard(MATCHER)
    assert guard.feed("这里有赌博") == ""
    assert guard.blocked == Match("赌博", 3, 5)
    assert guard.feed("，以及其他很多很多的文字。" * 3) == ""
    assert guard.finish() == ""
    assert guard.blocked == Match("赌博", 3, 5)


def test_feeding_after_finish_is_a_mistake() -> None:
    guard = StreamGuard(MATCHER)
    guard.feed("hi")
    assert guard.finish() == "hi"
    assert guard.finish() == ""
    with pytest.raises(RuntimeError):
        guard.feed("more")


def test_hold_back_is_the_longest_term_in_content_characters() -> None:
    matcher = Matcher(WordList(("gambling",)))  # 8 content characters
    guard = StreamGuard(matcher)
    shown = ""
    for i, char in enumerate("abcdefghijklmnopqrstuvwxyz"):
        shown += guard.feed(char)
        assert guard.held == min(i + 1, matcher.longest)
    assert shown == "abcdefghijklmnopqr"
    # Separators and invisible characters among the held letters are held with them.
    assert guard.feed(". \u200b") == ""
    # More than MAX_GAP separators: nothing before them can join a term any more.
    assert guard.feed(" ") == "stuvwxyz. \u200b "
    assert guard.held == 0


def test_guards_sharing_a_matcher_are_independent() -> None:
    first, second = StreamGuard(MATCHER), StreamGuard(MATCHER)
    first.feed("赌")
    second.feed("博弈论")
    first.feed("博")
    assert first.blocked is not None
    assert second.blocked is None
    assert second.finish() == "博弈论"


def test_a_long_answer_through_a_long_list_is_linear() -> None:
    terms = [f"term{i:04d}" for i in range(1000)]
    terms += ["".join(pair) + "禁" for pair in itertools.product("一二三四五六七八九十", repeat=3)]
    matcher = Matcher(WordList(tuple(terms)))
    assert len(matcher.word_list.terms) == 2000
    sentence = "您好，这是一个关于退货政策的回答。Your order ships in 2 days; terms apply. "
    text = (sentence * (10_000 // len(sentence) + 1))[:10_000]
    pieces: Sequence[str] = [text[i : i + 5] for i in range(0, len(text), 5)]

    began = time.perf_counter()
    guard = StreamGuard(matcher)
    shown = []
    most_held = 0
    for piece in pieces:
        shown.append(guard.feed(piece))
        most_held = max(most_held, guard.held)
    shown.append(guard.finish())
    elapsed = time.perf_counter() - began

    assert "".join(shown) == text
    assert guard.blocked is None
    # Each character goes through the automaton once (breaks in long gaps add at most one each).
    assert guard.scanned <= len(text)
    # Only a bounded window is ever held back.
    assert most_held <= 5 + matcher.longest * (MAX_GAP + 1)
    assert elapsed < 2.0


def test_the_quick_check_never_hides_a_match() -> None:
    """``find`` skips the full scan when the text's content characters alone hold no term; on
    texts built from the terms' own characters, separators, invisible and full-width forms,
    it agrees with the full scan every time."""
    rng = random.Random(7)
    alphabet = [*"赌博网上场K粉gamblinsuyocte ", ".", "-", "\u200b", "ｇ", "Ａ", "\u0336", "x"]
    agreed = blocked = 0
    noise = [" ", ".", "-", "\u200b", "\u0336", "x", "赌"]
    for _ in range(3_000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        else:  # a term, disguised and cut at random
            text = ""
            for char in rng.choice(TERMS):
                text += char.upper() if rng.random() < 0.3 else char
                text += "".join(rng.choice(noise) for _ in range(rng.choice([0, 0, 1, 2, 3])))
        full = StreamGuard(MATCHER)
        full.feed(text)
        full.finish()
        assert MATCHER.find(text) == full.blocked, text
        agreed += 1
        blocked += full.blocked is not None
    assert agreed == 3_000 and blocked > 100  # the sample does exercise matches
