"""The built-in sentence encoder: offline, multilingual, unit vectors."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from bot.answerers.encoder import UseEncoder
from bot.answerers.hybrid import HybridIndex
from core.knowledge.entries import KbEntry
from core.knowledge.files import read_kb_bytes


def test_the_builtin_encoder_matches_meanings_across_languages() -> None:
    vectors = UseEncoder().encode(["你们的地址在哪里", "where is your address", "退货怎么办"])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    address_zh, address_en, returns = vectors
    assert address_zh @ address_en > address_zh @ returns + 0.2


def test_with_the_encoder_a_question_sharing_no_words_finds_its_entry() -> None:
    entries = [
        KbEntry("addr", "你们的地址在哪里？", "北京市朝阳区。", ("公司在什么位置", "门店地址")),
        KbEntry("hours", "你们几点开门？", "九点到六点。", ("营业时间是什么", "几点关门")),
        KbEntry("refund", "怎么退货？", "七天无理由退货。", ("我要退货", "退货流程")),
    ]
    hybrid = HybridIndex.build(entries, UseEncoder())
    assert [h.entry.id for h in hybrid.search("where is your store", 1)] == ["addr"]
    assert HybridIndex.build(entries).search("where is your store") == []


def demo_entries() -> list[KbEntry]:
    data = resources.files("kefu").joinpath("data/demo_kb.json").read_bytes()
    rows = [parsed.row for parsed in read_kb_bytes(data, "json").rows]
    return [KbEntry(f"e{i}", r.question, r.answer, r.similar, r.tags) for i, r in enumerate(rows)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("你们老板是谁", None),  # not "who are you": the knowledge base says nothing of a boss
        ("who is your boss", None),
        ("你是谁", "你是谁？"),
        ("who are you", "Who are you?"),
        ("are you a robot", "Who are you?"),
        ("订单到哪了", "怎么查看我的订单状态？"),
        ("how do I return an item", "What is your return policy?"),
        ("what is the capital of mongolia", None),
    ],
)
def test_the_demo_knowledge_base_answers_what_it_knows_and_only_that(
    demo_index: HybridIndex, question: str, expected: str | None
) -> None:
    hit = demo_index.best(question)
    assert (hit and hit.entry.question) == expected


@pytest.fixture(scope="module")
def demo_index() -> HybridIndex:
    return HybridIndex.build(demo_entries(), UseEncoder())
