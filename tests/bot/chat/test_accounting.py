"""The token ledger and the block log of one answer: each record on its own, blocks attributed."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from bot.answerers import knowledge_base
from bot.answerers.contract import CallOutcome, CallRecord
from bot.chat.accounting import Blocked, Direction, account, author
from bot.chat.store import Block, DatabaseStore
from core.db.tables import ContentBlock, ModelCall
from core.types import utcnow
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio

NOW = utcnow()


def call(model: str, outcome: CallOutcome = CallOutcome.OK, **kw: int) -> CallRecord:
    tokens = {"input_tokens": 10, "output_tokens": 5, "cache_hit_tokens": 0, **kw}
    return CallRecord(
        provider="openai-compatible",
        model=model,
        latency_ms=100,
        first_token_ms=20,
        outcome=outcome,
        **tokens,
    )


class Books:
    """Keeps what it is asked to record; a model named ``fail`` or any block can fail."""

    def __init__(self, fail_blocks: bool = False) -> None:
        self.calls: list[CallRecord] = []
        self.blocks: list[Block] = []
        self.fail_blocks = fail_blocks

    async def record_call(
        self, licensee_id: str, conversation_id: str, reply_id: str, call: CallRecord, now: datetime
    ) -> None:
        if call.model == "fail":
            raise OSError("ledger unreachable")
        self.calls.append(call)

    async def record_block(self, block: Block, now: datetime) -> None:
        if self.fail_blocks:
            raise OSError("log unreachable")
        self.blocks.append(block)


async def run(books: Books, calls: list[CallRecord], blocked: Blocked | None) -> None:
    await account(
        books,
        licensee_id="lic_1",
        conversation_id="conv_1",
        reply_id="msg_1",
        calls=calls,
        blocked=blocked,
        now=NOW,
    )


async def test_one_failed_record_loses_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    books = Books()
    blocked = Blocked(Direction.ANSWER, "gambling")
    with caplog.at_level(logging.ERROR, "kefu.chat"):
        await run(books, [call("a"), call("fail"), call("b")], blocked)
    assert [c.model for c in books.calls] == ["a", "b"] and len(books.blocks) == 1
    assert "recording a model call in the token ledger failed" in caplog.text


async def test_a_failed_block_record_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "kefu.chat"):
        await run(Books(fail_blocks=True), [], Blocked(Direction.QUESTION, "gambling"))
    assert "recording a content-filter block failed" in caplog.text


async def test_no_block_no_block_record() -> None:
    books = Books()
    await run(books, [call("a")], None)
    assert books.blocks == [] and len(books.calls) == 1


def test_a_blocked_answer_is_the_streaming_models() -> None:
    blocked = Blocked(Direction.ANSWER, "x")
    for outcome in (CallOutcome.OK, CallOutcome.CANCELLED):
        assert author([call("a", CallOutcome.TIMEOUT_TOTAL), call("b", outcome)], blocked) == (
            "openai-compatible",
            "b",
        )


def test_otherwise_a_block_is_the_built_in_answerers() -> None:
    built_in = (knowledge_base.PRODUCER, knowledge_base.MODEL)
    # Every model failed and the built-in answerer answered; or nothing was asked of a model.
    assert author([call("a", CallOutcome.HTTP_ERROR)], Blocked(Direction.ANSWER, "x")) == built_in
    assert author([], Blocked(Direction.ANSWER, "x")) == built_in
    # A blocked question was the end user's, recorded under the built-in answerer.
    assert author([call("a")], Blocked(Direction.QUESTION, "x")) == built_in


async def test_records_land_in_the_ledger_and_the_log(chat_kit: ChatKit) -> None:
    """Through the real store: the cache-hit tokens never exceed the input tokens."""
    store = DatabaseStore(chat_kit.db)
    await account(
        store,
        licensee_id=chat_kit.licensee.id,
        conversation_id="conv_x",
        reply_id="msg_x",
        calls=[call("m", input_tokens=10, cache_hit_tokens=50)],
        blocked=Blocked(Direction.ANSWER, "gambling"),
        now=NOW,
    )
    rows = chat_kit.db.read(lambda c: c.execute(ModelCall.__table__.select()).all())  # type: ignore[attr-defined]
    assert [(r.model, r.input_tokens, r.cache_hit_tokens) for r in rows] == [("m", 10, 10)]
    assert chat_kit.count(ContentBlock, direction="answer", term="gambling", model="m") == 1
