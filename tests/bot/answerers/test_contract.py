"""One contract for every answerer: the built-in one, the model backends and a fallback chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bot.answerers.contract import (
    Answerer,
    AnswerRequest,
    CallOutcome,
    CallRecord,
    Delta,
    Final,
    Turn,
)
from bot.answerers.knowledge_base import DONT_KNOW_EN, DONT_KNOW_ZH, KnowledgeBaseAnswerer
from bot.answerers.retrieval import KnowledgeBaseIndex
from bot.llm import FallbackChain, ModelAnswerer
from core.chat.frames import Role
from core.knowledge.entries import KbEntry
from testkit.providers import Call, FakeOllama, FakeOpenAI, Script, collect

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("model_clients")]

SHIPPING = KbEntry(
    "ship",
    "How long does delivery take?",
    "Orders ship within 24 hours. Delivery takes 3 to 5 working days, or 1 day with Express!",
    ("when will my parcel arrive",),
)
RETURNS = KbEntry(
    "returns",
    "Can I return an item?",
    "You can return any item within 30 days of delivery, unused and in its original box.",
    ("how do I send something back", "refund policy"),
)
SHIPPING_ZH = KbEntry(
    "ship-zh",
    "订单什么时候发货？",
    "付款后48小时内发货。节假日顺延，如需加急请联系客服，我们会尽快为您安排。",
    ("多久发货",),
)
ENTRIES = [SHIPPING, RETURNS, SHIPPING_ZH]
QUESTIONS = [
    ("When will my parcel arrive?", "en", SHIPPING.answer, True),
    ("我的订单多久发货", "zh-CN", SHIPPING_ZH.answer, True),
    ("Do you sell garden furniture?", "en", DONT_KNOW_EN, False),
    ("你们卖花园家具吗", "zh-CN", DONT_KNOW_ZH, False),
]
KINDS = ["kb", "openai", "ollama", "chain"]


@dataclass
class Setup:
    """One answerer under test, and the fake model calls it is expected to make."""

    answerer: Answerer
    fakes: list[FakeOpenAI | FakeOllama] = field(default_factory=list)

    def calls(self) -> list[Call]:
        return sorted((c for f in self.fakes for c in f.calls), key=lambda c: c.received_at)


def make(kind: str, fakes: tuple[FakeOpenAI, FakeOllama], reply: str) -> Setup:
    openai_fake, ollama_fake = fakes
    openai_fake.default = Script(
        reply=reply, input_tokens=1234, output_tokens=56, cached_tokens=1024, model="fake-gpt-0601"
    )
    ollama_fake.default = Script(reply=reply, input_tokens=432, output_tokens=21)
    if kind == "kb":
        return Setup(KnowledgeBaseAnswerer())
    if kind == "openai":
        return Setup(ModelAnswerer(openai_fake.spec(api_key="sk-test")), [openai_fake])
    if kind == "ollama":
        return Setup(ModelAnswerer(ollama_fake.spec()), [ollama_fake])
    openai_fake.script("retired-gpt", Script(retired=True))
    chain = FallbackChain(
        [
            ModelAnswerer(openai_fake.spec("retired-gpt")),
            ModelAnswerer(ollama_fake.spec()),
            KnowledgeBaseAnswerer(),
        ]
    )
    return Setup(chain, [openai_fake, ollama_fake])


def request(
    question: str, locale: str, index: KnowledgeBaseIndex, report: Callable[[CallRecord], None]
) -> AnswerRequest:
    return AnswerRequest(
        licensee_id="lic_a",
        question=question,
        locale=locale,
        history=(Turn(Role.VISITOR, "Hello"), Turn(Role.ROBOT, "Hi! How can I help?")),
        index=index,
        business="Acme Shop",
        report=report,
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("question", "locale", "expected", "resolved"), QUESTIONS)
async def test_answer_contract(
    kind: str,
    question: str,
    locale: str,
    expected: str,
    resolved: bool,
    fakes: tuple[FakeOpenAI, FakeOllama],
) -> None:
    setup = make(kind, fakes, expected)
    index = KnowledgeBaseIndex.build(ENTRIES)
    records: list[CallRecord] = []
    answer = await collect(setup.answerer, request(question, locale, index, records.append))

    *pieces, final = answer.events
    assert isinstance(final, Final)
    assert all(isinstance(p, Delta) for p in pieces), answer.events
    texts = [p.text for p in pieces if isinstance(p, Delta)]
    assert texts and all(texts)
    assert "".join(texts) == expected
    assert final.model and final.producer
    assert all(source in ENTRIES for source in final.sources)
    assert final.resolved is resolved

    calls = setup.calls()
    assert len(records) == len(calls)
    for record, call in zip(records, calls, strict=True):
        if call.script is not None and call.script.retired:
            assert record.outcome is CallOutcome.RETIRED
            assert (record.input_tokens, record.output_tokens) == (0, 0)
            continue
        assert record.outcome is CallOutcome.OK
        assert record.model == call.reported_model == final.model
        assert record.input_tokens == call.input_tokens
        assert record.output_tokens == call.output_tokens
        assert record.cache_hit_tokens == call.cached_tokens
        assert record.first_token_ms is not None
        assert 0 <= record.first_token_ms <= record.latency_ms
        assert record.provider.startswith("127.0.0.1:")  # the account: the API's host
    if kind == "kb":
        assert final.producer == "kefu" and not records
    elif kind == "openai":
        assert final.producer == "openai-compatible" and final.model == "fake-gpt-0601"
        assert (records[0].input_tokens, records[0].cache_hit_tokens) == (1234, 1024)
    else:
        assert final.producer == "ollama" and final.model == "fake-llama:latest"
        assert (records[-1].input_tokens, records[-1].output_tokens) == (432, 21)
        assert records[-1].cache_hit_tokens == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_sources_come_from_the_request_index_only(
    kind: str, fakes: tuple[FakeOpenAI, FakeOllama]
) -> None:
    other = KbEntry("other", "How long does delivery take?", "Other shop: delivery takes a year.")
    setup = make(kind, fakes, SHIPPING.answer)
    own = KnowledgeBaseIndex.build([SHIPPING, RETURNS])
    KnowledgeBaseIndex.build([other])  # another licensee's index exists alongside
    answer = await collect(
        setup.answerer, request("How long does delivery take?", "en", own, lambda r: None)
    )
    assert answer.final.sources
    assert all(source in (SHIPPING, RETURNS) for source in answer.final.sources)
    for call in setup.calls():
        assert other.answer not in str(call.body)


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_the_stream_early_is_reported_as_cancelled(
    kind: str, fakes: tuple[FakeOpenAI, FakeOllama]
) -> None:
    setup = make(kind, fakes, SHIPPING.answer)
    index = KnowledgeBaseIndex.build(ENTRIES)
    records: list[CallRecord] = []
    stream = setup.answerer.stream(
        request("When will my parcel arrive?", "en", index, records.append)
    )
    first = await anext(stream)
    assert isinstance(first, Delta) and first.text
    await stream.aclose()  # type: ignore[attr-defined]
    calls = setup.calls()
    assert len(records) == len(calls)
    if kind != "kb":
        assert records[-1].outcome is CallOutcome.CANCELLED
        assert records[-1].first_token_ms is not None
