"""Hybrid retrieval: fusion with an encoder, pinyin for homophone typos, calibrated thresholds."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pytest

from bot.answerers.calibration import Thresholds, calibrate, held_out
from bot.answerers.encoder import BackgroundEncoder, CachedEncoder, FloatArray
from bot.answerers.hybrid import DEFAULT_HYBRID, HybridIndex
from bot.answerers.indexing import IndexFactory
from bot.answerers.language import question_language
from bot.answerers.pinyin import spell
from core.knowledge.entries import KbEntry


class SynonymEncoder:
    """A stand-in sentence encoder: a bag of words where listed synonyms share one dimension, so
    that it "understands" what the lexical index cannot (tests must not load the real model)."""

    name = "synonyms"
    SAME: ClassVar[dict[str, str]] = {
        "parcel": "delivery",
        "package": "delivery",
        "shipment": "delivery",
    }

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.calls += 1
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                word = self.SAME.get(word, word)
                out[row, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit: FloatArray = out / norms
        return unit


ENTRIES = [
    KbEntry(
        "ship",
        "When does my delivery arrive?",
        "3 days.",
        ("delivery time", "how long is delivery"),
    ),
    KbEntry(
        "pay",
        "Which payment methods do you accept?",
        "Cards.",
        ("can I pay by card", "pay with paypal"),
    ),
    KbEntry("addr", "你们的地址在哪里？", "北京。", ("公司地址是什么", "地址在哪")),
    KbEntry("refund", "退货怎么办？", "七天无理由退货。", ("怎么退货", "我要退货")),
]


def test_pinyin_spells_homophones_alike() -> None:
    assert spell("地止") == spell("地址") == "di zhi"
    assert spell("my 订单 please").split() == ["my", "ding", "dan", "please"]


def test_a_homophone_typo_finds_the_entry_through_pinyin() -> None:
    pinyin_only = dataclasses.replace(DEFAULT_HYBRID, fix_homophones=False)
    index = HybridIndex.build(ENTRIES, None, pinyin_only)
    hit = index.best("你们的地止在哪里")
    assert hit is not None and hit.entry.id == "addr"
    without = HybridIndex.build(ENTRIES, None, dataclasses.replace(pinyin_only, pinyin_share=0))
    # The typo'd characters share nothing with the entry; their pinyin does.
    typo, plain = index.search("地止", 1)[0], without.search("地止", 1)[0]
    assert typo.entry.id == plain.entry.id == "addr"
    assert typo.score > plain.score + 0.1


def test_the_encoder_finds_what_words_do_not_share() -> None:
    lexical = HybridIndex.build(ENTRIES)
    hybrid = HybridIndex.build(ENTRIES, SynonymEncoder())
    assert lexical.search("parcel", 1)[0].entry.id != "ship"  # shares no word with it
    assert [h.entry.id for h in hybrid.search("parcel", 1)] == ["ship"]
    assert hybrid.uses_encoder and not lexical.uses_encoder


def test_hits_carry_the_threshold_of_the_question_language() -> None:
    index = HybridIndex.build(ENTRIES)
    index.thresholds = Thresholds({"zh": 0.99, "en": 0.1}, 0.5)
    en = index.search("delivery time", 1)[0]
    zh = index.search("地址在哪", 1)[0]
    assert en.threshold == 0.1 and zh.threshold == 0.99
    assert index.confident(en) and not index.confident(zh)
    assert index.threshold_for("公司地址") == 0.99


def test_a_question_mostly_about_unknown_words_scores_lower() -> None:
    index = HybridIndex.build(ENTRIES, SynonymEncoder())
    plain = dataclasses.replace(DEFAULT_HYBRID, coverage_power=0.0)
    without = HybridIndex.build(ENTRIES, SynonymEncoder(), plain)
    question = "delivery time of the moon landing rocket engines"
    assert index.search(question, 1)[0].score < without.search(question, 1)[0].score * 0.8
    assert index.search("delivery time", 1)[0].score == without.search("delivery time", 1)[0].score


def test_the_threshold_is_never_below_the_floor() -> None:
    many = [
        KbEntry(f"e{i}", f"topic{i} question", "a", tuple(f"topic{i} way {j}" for j in range(3)))
        for i in range(10)
    ]
    low = calibrate(many, HybridIndex.build, 0.3, 8, 3, 0.35)
    assert 0 < min(low.by_language.values()) < 0.9
    high = calibrate(many, HybridIndex.build, 0.3, 8, 3, 0.35, floor=0.9)
    assert high == Thresholds({"en": 0.9}, 0.9)


def test_the_threshold_is_never_above_the_ceiling() -> None:
    many = [
        KbEntry(f"e{i}", f"topic{i} question", "a", tuple(f"topic{i} way {j}" for j in range(3)))
        for i in range(10)
    ]
    low = calibrate(many, HybridIndex.build, 0.3, 8, 3, 0.35, ceiling=0.05)
    assert low == Thresholds({"en": 0.05}, 0.05)
    assert DEFAULT_HYBRID.max_threshold < 1


def test_held_out_leaves_a_different_phrasing_out_each_round() -> None:
    kept, asked = held_out(ENTRIES, 1)
    assert ("how long is delivery", "ship") in asked
    assert kept[0].similar == ("delivery time",)
    assert len(asked) == len(ENTRIES)


def test_thresholds_are_calibrated_per_knowledge_base_and_language() -> None:
    a = HybridIndex.build(ENTRIES)
    paraphrased = [
        KbEntry(e.id, e.question, e.answer, (*e.similar, e.question + " please tell me now"))
        for e in ENTRIES
    ]
    b = HybridIndex.build(paraphrased)
    assert a.thresholds != b.thresholds


def test_too_few_held_out_phrasings_keep_the_default_threshold() -> None:
    one_each = [KbEntry(f"e{i}", f"question {i}", "a") for i in range(20)]
    assert calibrate(one_each, HybridIndex.build, 0.1, 8, 3, 0.42) == Thresholds({}, 0.42)


def test_calibration_keeps_the_right_answers() -> None:
    index = HybridIndex.build(ENTRIES, SynonymEncoder())
    for lang in ("en", "zh"):
        assert 0 < index.thresholds.of(lang) <= 1
    # Every held-out phrasing of this knowledge base is answered by its own threshold...
    for entry in ENTRIES:
        for phrasing in entry.similar:
            hit = index.best(phrasing)
            assert hit is not None and hit.entry.id == entry.id
    assert question_language("what is the capital of mongolia", "zh-CN") == "en"


def test_cached_encoder_encodes_each_text_once() -> None:
    inner = SynonymEncoder()
    cached = CachedEncoder(inner, size=2)
    first = cached.encode(["a b", "c d"])
    again = cached.encode(["c d", "a b"])
    assert inner.calls == 1
    assert np.array_equal(first[0], again[1])
    cached.encode(["e f"])  # evicts "c d", the least recently used
    cached.encode(["a b"])
    assert inner.calls == 2
    cached.encode(["c d"])
    assert inner.calls == 3


def test_index_factory_rebuilds_indexes_built_before_the_encoder_loaded() -> None:
    loading = BackgroundEncoder(SynonymEncoder)
    factory = IndexFactory(None)
    assert not factory.stale(factory.build(ENTRIES))  # encoder off: lexical is final
    factory = IndexFactory(loading)
    assert loading.wait(10) is not None
    assert not factory.stale(factory.build(ENTRIES))
    early = HybridIndex.build(ENTRIES)
    assert factory.stale(early)


def test_an_encoder_that_fails_to_load_leaves_retrieval_lexical(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> SynonymEncoder:
        raise OSError("weights missing")

    loading = BackgroundEncoder(broken)
    assert loading.wait(10) is None
    factory = IndexFactory(loading)
    index = factory.build(ENTRIES)
    assert not factory.stale(index)
    assert index.best("你们的地址在哪里？") is not None
    assert "lexical only" in caplog.text


def test_the_encoder_reads_only_the_start_of_a_long_question() -> None:
    """Like the lexical index, the encoder gets a question's first MAX_CHARS characters: the work
    per question does not grow with what a client chooses to send."""
    from bot.answerers.retrieval import MAX_CHARS

    seen: list[str] = []

    class Recording(SynonymEncoder):
        def encode(self, texts: Sequence[str]) -> FloatArray:
            seen.extend(texts)
            return super().encode(texts)

    index = HybridIndex.build(ENTRIES, Recording())
    seen.clear()
    question = "when does my parcel arrive " + "please " * 300
    hit = index.search(question, 1)[0]
    assert hit.entry.id == "ship"
    assert seen == [question[:MAX_CHARS]]


def test_homophone_typos_are_put_right_against_the_knowledge_bases_words() -> None:
    from bot.answerers.homophones import HomophoneFixer

    fixer = HomophoneFixer(["怎么退货？", "我要退货", "你们的地址在哪里", "营业时间是什么时候"])
    assert fixer.fix("我想退伙") == "我想退货"  # huo
    assert fixer.fix("地止在哪") == "地址在哪"
    assert fixer.fix("营业时间是什么时后？") == "营业时间是什么时候？"
    # Words the knowledge base uses stay; so do questions without Chinese.
    assert fixer.fix("我要退货") == "我要退货"
    assert fixer.fix("where is it") == "where is it"


def test_a_homophone_typo_no_pinyin_share_would_save_still_finds_its_entry() -> None:
    entries = [
        KbEntry("ret", "怎么退货？", "七天内。", ("我要退货", "退货流程")),
        KbEntry("adr", "你们的地址在哪里？", "北京。", ("公司地址", "地址是什么")),
    ]
    settings = dataclasses.replace(DEFAULT_HYBRID, pinyin_share=0.0)
    index = HybridIndex.build(entries, None, settings)
    hits = index.search("公司地止", 1)
    assert hits and hits[0].entry.id == "adr"
    unfixed = HybridIndex.build(entries, None, dataclasses.replace(settings, fix_homophones=False))
    before = unfixed.search("公司地止", 1)
    assert not before or before[0].score < hits[0].score


def test_each_language_calibrates_with_its_own_refusal_weight() -> None:
    def thresholds(weights: dict[str, float]) -> Thresholds:
        return calibrate(ENTRIES, HybridIndex.build, 0.3, 2, 3, 0.42, weight_by_language=weights)

    base = thresholds({})
    lenient, strict = thresholds({"en": 0.0}), thresholds({"en": 100.0})
    assert {"en", "zh"} <= base.by_language.keys()
    # A near miss that costs nothing lets every right answer through: the lowest threshold.
    assert lenient.of("en") <= base.of("en") <= strict.of("en")
    assert lenient.of("en") < strict.of("en")
    assert lenient.of("zh") == base.of("zh") == strict.of("zh")


def test_each_language_keeps_its_threshold_within_its_own_bounds() -> None:
    def thresholds(bounds: dict[str, tuple[float, float]]) -> Thresholds:
        return calibrate(ENTRIES, HybridIndex.build, 0.3, 2, 3, 0.42, bounds_by_language=bounds)

    base = thresholds({})
    capped = thresholds({"zh": (0.0, 0.01), "en": (0.95, 1.0)})
    assert capped.of("zh") == 0.01 and capped.of("en") == 0.95
    assert base.of("zh") > 0.01 and base.of("en") < 0.95
    # A language without bounds of its own keeps the common floor and ceiling.
    assert thresholds({"zh": (0.0, 0.01)}).of("en") == base.of("en")
