"""Every way a model call fails ends in one answer from the next link, on time, and is reported."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import pytest

from bot.answerers.contract import AnswerRequest, CallOutcome, CallRecord, Delta, Final, Restart
from bot.answerers.knowledge_base import KnowledgeBaseAnswerer
from bot.answerers.retrieval import KnowledgeBaseIndex
from bot.llm import (
    BackendSpec,
    FallbackChain,
    ModelAnswerer,
    ModelCallFailed,
)
from core.knowledge.entries import KbEntry
from testkit.providers import FakeOllama, FakeOpenAI, Script, collect

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("model_clients")]

FIRST = 0.3  # the first-token timeout under test, seconds
TOTAL = 0.8  # the total timeout under test
# A deadline that a case does not test is put where it cannot fire: the time a call takes to
# start (building the client, connecting, a busy machine) must not turn one failure into another.
NEVER = 30.0
# What the test allows beyond a timeout: the built-in answer, a busy machine. The stalled models
# below never finish on their own, so any answer at all shows that the deadline ended the call.
MARGIN = 2.0
SHIPPING = KbEntry(
    "ship",
    "How long does delivery take?",
    "Orders ship within 24 hours. Delivery takes 3 to 5 working days.",
    ("when will my parcel arrive",),
)
LONG_REPLY = (
    "Thank you for your question about delivery. Our parcels usually leave the warehouse "
    "within one day and arrive in three to five working days, depending on where you live."
)
FAILURES = {
    # failure: (script, outcome, the timeout under test, pieces shown first)
    "slow_first_token": (Script(stall_after=0), CallOutcome.TIMEOUT_FIRST_TOKEN, FIRST, False),
    # A dozen pieces at once, then nothing: text is shown well before the deadline.
    "slow_total": (
        Script(reply=LONG_REPLY, stall_after=12),
        CallOutcome.TIMEOUT_TOTAL,
        TOTAL,
        True,
    ),
    "http_500": (Script(status=500), CallOutcome.HTTP_ERROR, 0.0, False),
    "retired": (Script(retired=True), CallOutcome.RETIRED, 0.0, False),
    # Cut or broken after three words: ordinary text shows at once (the leak guard holds back
    # only what could start to repeat the instructions), so the Restart takes it back.
    "cut_stream": (Script(reply=LONG_REPLY, cut_after=3), CallOutcome.MALFORMED, 0.0, True),
    "malformed_chunk": (
        Script(reply=LONG_REPLY, malformed_after=3),
        CallOutcome.MALFORMED,
        0.0,
        True,
    ),
    "no_finish": (Script(reply=LONG_REPLY, finish=False), CallOutcome.MALFORMED, 0.0, True),
}


def request(
    records: list[CallRecord], question: str = "When will my parcel arrive?"
) -> AnswerRequest:
    return AnswerRequest(
        licensee_id="lic_a",
        question=question,
        locale="en",
        history=(),
        index=KnowledgeBaseIndex.build([SHIPPING]),
        business="Acme Shop",
        report=records.append,
    )


def pick(fakes: tuple[FakeOpenAI, FakeOllama], provider: str) -> FakeOpenAI | FakeOllama:
    return fakes[0] if provider == "openai" else fakes[1]


@pytest.mark.parametrize("provider", ["openai", "ollama"])
@pytest.mark.parametrize("failure", list(FAILURES))
async def test_each_failure_falls_back_to_the_built_in_answer(
    provider: str, failure: str, fakes: tuple[FakeOpenAI, FakeOllama]
) -> None:
    script, outcome, limit, shown_first = FAILURES[failure]
    fake = pick(fakes, provider)
    fake.default = script
    first = FIRST if outcome is CallOutcome.TIMEOUT_FIRST_TOKEN else NEVER
    total = TOTAL if outcome is CallOutcome.TIMEOUT_TOTAL else NEVER
    chain = FallbackChain(
        [
            ModelAnswerer(fake.spec(first_token_timeout=first, total_timeout=total)),
            KnowledgeBaseAnswerer(),
        ]
    )
    records: list[CallRecord] = []
    asked = request(records)
    started = time.monotonic()
    answer = await collect(chain, asked)
    elapsed = time.monotonic() - started

    assert answer.text == SHIPPING.answer
    assert answer.final.producer == "kefu" and list(answer.final.sources) == [SHIPPING]
    assert [e for e in answer.events if isinstance(e, Final)] == [answer.final]
    assert elapsed < limit + MARGIN, elapsed
    if limit:
        assert elapsed >= limit
    assert [r.outcome for r in records] == [outcome]
    # Asked once (a call that timed out on a busy machine may not have reached the fake yet).
    assert len(fake.calls) == 1 if not limit else len(fake.calls) <= 1
    record = records[0]
    assert record.provider == urlsplit(fake.base_url).netloc  # the ledger's account
    assert record.model == fake.default_model
    assert record.latency_ms <= (limit + MARGIN) * 1000
    # Pieces streamed before the failure are taken back by a Restart; otherwise none is needed.
    assert len(answer.restarts) == int(shown_first)
    if shown_first:
        before = answer.events[: _restart_at(answer.events)]
        shown = "".join(e.text for e in before if isinstance(e, Delta))
        assert shown and LONG_REPLY.startswith(shown)


def _restart_at(events: Sequence[object]) -> int:
    return next((i for i, e in enumerate(events) if isinstance(e, Restart)), len(events))


@pytest.mark.parametrize("provider", ["openai", "ollama"])
async def test_a_stream_cut_after_pieces_restarts_before_the_next_answer(
    provider: str, fakes: tuple[FakeOpenAI, FakeOllama]
) -> None:
    fake = pick(fakes, provider)
    fake.default = Script(reply=LONG_REPLY, cut_after=20)
    chain = FallbackChain([ModelAnswerer(fake.spec()), KnowledgeBaseAnswerer()])
    records: list[CallRecord] = []
    answer = await collect(chain, request(records))

    at = _restart_at(answer.events)
    before, after = answer.events[:at], answer.events[at + 1 :]
    assert before and all(isinstance(e, Delta) for e in before)
    shown = "".join(e.text for e in before if isinstance(e, Delta))
    assert LONG_REPLY.startswith(shown) and len(shown) > 20
    assert len(answer.restarts) == 1 and answer.restarts[0].reason
    assert "".join(e.text for e in after if isinstance(e, Delta)) == SHIPPING.answer
    assert after[-1] == answer.final and answer.final.producer == "kefu"
    assert [r.outcome for r in records] == [CallOutcome.MALFORMED]
    assert records[0].first_token_ms is not None


async def test_a_failing_model_falls_back_to_the_next_model(
    fakes: tuple[FakeOpenAI, FakeOllama],
) -> None:
    openai_fake, ollama_fake = fakes
    openai_fake.default = Script(status=500)
    ollama_fake.default = Script(reply=LONG_REPLY, input_tokens=99, output_tokens=33)
    chain = FallbackChain(
        [
            ModelAnswerer(openai_fake.spec()),
            ModelAnswerer(ollama_fake.spec()),
            KnowledgeBaseAnswerer(),
        ]
    )
    records: list[CallRecord] = []
    answer = await collect(chain, request(records))
    assert answer.text == LONG_REPLY and not answer.restarts
    assert answer.final.producer == "ollama"
    assert [(r.provider, r.outcome) for r in records] == [
        (urlsplit(fakes[0].base_url).netloc, CallOutcome.HTTP_ERROR),
        (urlsplit(fakes[1].base_url).netloc, CallOutcome.OK),
    ]
    assert (records[1].input_tokens, records[1].output_tokens) == (99, 33)


async def test_when_every_link_fails_the_last_error_is_raised(
    fakes: tuple[FakeOpenAI, FakeOllama],
) -> None:
    openai_fake, ollama_fake = fakes
    openai_fake.default = Script(status=500)
    ollama_fake.default = Script(retired=True)
    chain = FallbackChain([ModelAnswerer(openai_fake.spec()), ModelAnswerer(ollama_fake.spec())])
    records: list[CallRecord] = []
    with pytest.raises(ModelCallFailed) as failed:
        await collect(chain, request(records))
    assert failed.value.outcome is CallOutcome.RETIRED
    assert [r.outcome for r in records] == [CallOutcome.HTTP_ERROR, CallOutcome.RETIRED]


@pytest.mark.parametrize("provider", ["openai", "ollama"])
async def test_an_unreachable_provider_is_an_http_error(provider: str) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    spec = BackendSpec("openai" if provider == "openai" else "ollama", base, "m")
    records: list[CallRecord] = []
    answer = await collect(
        FallbackChain([ModelAnswerer(spec), KnowledgeBaseAnswerer()]), request(records)
    )
    assert answer.text == SHIPPING.answer
    assert [r.outcome for r in records] == [CallOutcome.HTTP_ERROR]


@pytest.mark.parametrize("provider", ["openai", "ollama"])
async def test_an_end_user_leaving_is_reported_as_cancelled(
    provider: str, fakes: tuple[FakeOpenAI, FakeOllama]
) -> None:
    fake = pick(fakes, provider)
    fake.default = Script(stall_after=0)
    records: list[CallRecord] = []
    answerer = ModelAnswerer(fake.spec())

    async def consume() -> None:
        await collect(answerer, request(records))

    task = asyncio.create_task(consume())
    assert len(await fake.received()) == 1  # the request is sent; no token will ever come
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.outcome for r in records] == [CallOutcome.CANCELLED]
    assert records[0].first_token_ms is None


async def test_api_keys_stay_out_of_errors_logs_and_reprs(
    fakes: tuple[FakeOpenAI, FakeOllama], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-very-secret-123"
    openai_fake = fakes[0]
    # A careless provider that quotes the key back in its error message.
    openai_fake.default = Script(status=401, error=f"Incorrect API key provided: {secret}")
    spec = openai_fake.spec(api_key=secret)
    assert secret not in repr(spec)
    chain = FallbackChain([ModelAnswerer(spec), KnowledgeBaseAnswerer()])
    records: list[CallRecord] = []
    with caplog.at_level(logging.DEBUG):
        answer = await collect(chain, request(records))
    assert answer.text == SHIPPING.answer
    assert records[0].outcome is CallOutcome.HTTP_ERROR
    assert "falling back" in caplog.text
    assert secret not in caplog.text
    assert openai_fake.calls[0].body.get("model") == spec.model

    with pytest.raises(ModelCallFailed) as failed:
        await collect(ModelAnswerer(spec), request(records))
    assert secret not in str(failed.value) and failed.value.__cause__ is None
