"""The built-in answerer: streamed FAQ answers, Final metadata, and the honest "I don't know"."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.answerers.contract import AnswerEvent, AnswerRequest, Delta, Final, Hit
from bot.answerers.knowledge_base import (
    DONT_KNOW_EN,
    DONT_KNOW_ZH,
    KnowledgeBaseAnswerer,
    is_clearly_chinese,
    pieces,
)
from bot.answerers.retrieval import KnowledgeBaseIndex
from core.knowledge.entries import KbEntry


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SHIPPING = KbEntry(
    "ship",
    "How long does delivery take?",
    "Orders ship within 24 hours. Delivery takes 3 to 5 working days, "
    "or 1 day with Express! Questions? Write to us.",
    ("when will my parcel arrive",),
)
SHIPPING_ZH = KbEntry(
    "ship-zh",
    "订单什么时候发货？",
    "付款后48小时内发货。节假日顺延，如需加急请联系客服！",
    ("多久发货",),
)
MARKUP = KbEntry(
    "markup",
    "Where is the coupon code?",
    '<script>alert("x")</script> Use <b>SAVE10</b> &amp; enjoy. <a href="/x">More</a>',
)


class FixedIndex:
    """An index that always gives the same answer (or none), to test the answerer alone."""

    def __init__(self, entry: KbEntry | None) -> None:
        self.entry = entry
        self.asked: list[str] = []

    @property
    def size(self) -> int:
        return 0 if self.entry is None else 1

    def search(self, text: str, k: int = 5) -> list[Hit]:
        return [] if self.entry is None else [Hit(self.entry, 0.9)][:k]

    def best(self, text: str) -> Hit | None:
        self.asked.append(text)
        return None if self.entry is None else Hit(self.entry, 0.9)

    def confident(self, hit: Hit) -> bool:
        return True


def request(index: object, question: str, locale: str = "en") -> AnswerRequest:
    return AnswerRequest(
        licensee_id="lic_1",
        question=question,
        locale=locale,
        history=(),
        index=index,  # type: ignore[arg-type]
    )


async def answer(req: AnswerRequest) -> tuple[list[str], Final]:
    events: list[AnswerEvent] = [e async for e in KnowledgeBaseAnswerer().stream(req)]
    *deltas, final = events
    assert isinstance(final, Final)
    assert all(isinstance(d, Delta) for d in deltas)
    return [d.text for d in deltas if isinstance(d, Delta)], final


def test_name() -> None:
    assert KnowledgeBaseAnswerer.name == "kefu-kb"


@pytest.mark.anyio
async def test_answer_is_streamed_in_order_and_joins_back_exactly() -> None:
    index = FixedIndex(SHIPPING)
    texts, final = await answer(request(index, "when does it arrive"))
    assert index.asked == ["when does it arrive"]
    assert len(texts) >= 4
    assert "".join(texts) == SHIPPING.answer
    assert texts[0] == "Orders ship within 24 hours. "
    assert all(texts)
    assert final.producer == "kefu"
    assert final.model
    assert list(final.sources) == [SHIPPING]
    assert final.resolved is True


@pytest.mark.anyio
async def test_markup_stays_literal() -> None:
    texts, final = await answer(request(FixedIndex(MARKUP), "coupon"))
    assert "".join(texts) == MARKUP.answer
    assert "<script>" in "".join(texts)
    assert final.resolved


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("locale", "question", "expected"),
    [
        ("en", "what is the meaning of life", DONT_KNOW_EN),
        ("zh-CN", "人生的意义是什么", DONT_KNOW_ZH),
        ("zh-TW", "what is the meaning of life", DONT_KNOW_EN),  # the question's language wins
        ("zh-CN", "12345?", DONT_KNOW_ZH),  # no language of its own: the locale decides
        ("en", "🙂", DONT_KNOW_EN),
        ("en", "人生的意义是什么", DONT_KNOW_ZH),  # a clearly Chinese question wins
        ("fr", "quel est le sens de la vie", DONT_KNOW_EN),
        ("en", "what does 你好 mean?", DONT_KNOW_EN),
    ],
)
async def test_dont_know_in_the_right_language(locale: str, question: str, expected: str) -> None:
    texts, final = await answer(request(FixedIndex(None), question, locale))
    assert "".join(texts) == expected
    assert list(final.sources) == []
    assert final.resolved is False
    assert final.producer == "kefu"
    assert final.model


@pytest.mark.anyio
async def test_with_the_real_index() -> None:
    index = KnowledgeBaseIndex.build([SHIPPING, SHIPPING_ZH, MARKUP])
    texts, final = await answer(request(index, "When will my parcel arrive?"))
    assert "".join(texts) == SHIPPING.answer and list(final.sources) == [SHIPPING]

    texts, final = await answer(request(index, "我的订单多久发货", "zh-CN"))
    assert "".join(texts) == SHIPPING_ZH.answer and list(final.sources) == [SHIPPING_ZH]
    assert len(texts) >= 3

    texts, final = await answer(request(index, "Do you sell garden furniture?"))
    assert "".join(texts) == DONT_KNOW_EN and not final.resolved

    texts, final = await answer(request(index, "你们卖花园家具吗", "en"))
    assert "".join(texts) == DONT_KNOW_ZH and not final.resolved


@pytest.mark.anyio
async def test_empty_knowledge_base_always_says_it_does_not_know() -> None:
    empty = KnowledgeBaseIndex.build([])
    for question, locale, expected in (
        ("How long does delivery take?", "en", DONT_KNOW_EN),
        ("订单什么时候发货？", "zh-CN", DONT_KNOW_ZH),
        ("", "en", DONT_KNOW_EN),
    ):
        texts, final = await answer(request(empty, question, locale))
        assert "".join(texts) == expected
        assert list(final.sources) == [] and final.resolved is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no punctuation at all",
        "One. Two? Three! Four",
        "Costs 3.50 each, 1,000 max; see e.g. the list:\nline two\n\n",
        "付款后48小时内发货。节假日顺延，如需加急请联系客服！",
        "“引号里。”后面还有……然后",
        "Trailing spaces.   ",
        '<p class="a">Hi, there.</p>',
    ],
)
def test_pieces_join_back_exactly(text: str) -> None:
    parts: Sequence[str] = pieces(text)
    assert "".join(parts) == text
    assert all(parts)


def test_pieces_cut_after_sentences_and_clauses() -> None:
    assert pieces("One. Two, three! 四。五，六") == (
        "One. ",
        "Two, ",
        "three! ",
        "四。",
        "五，",
        "六",
    )
    assert pieces("Pay 3.50, not 1,000.") == ("Pay 3.50, ", "not 1,000.")


def test_is_clearly_chinese() -> None:
    assert is_clearly_chinese("订单什么时候发货")
    assert is_clearly_chinese("我的iPhone坏了")
    assert not is_clearly_chinese("what does 你好 mean")
    assert not is_clearly_chinese("日本語のテキストです")
    assert not is_clearly_chinese("hello")


@pytest.mark.anyio
async def test_an_english_question_gets_the_entry_english_answer() -> None:
    entry = KbEntry("r", "怎么退货？", "七天内可退货。", ("return",), answer_en="Within 7 days.")
    words, _ = await answer(request(FixedIndex(entry), "how do I return it", "zh-CN"))
    assert "".join(words) == "Within 7 days."
    words, _ = await answer(request(FixedIndex(entry), "怎么退货", "en"))
    assert "".join(words) == "七天内可退货。"
