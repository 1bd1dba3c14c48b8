"""What an answer cost and what the filter stopped: the token ledger and the moderation log.

Both are written after the answer is out, each record on its own: one failed write loses only
its own record, never the others, and never the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot import metrics
from bot.answerers import knowledge_base
from bot.answerers.contract import CallOutcome, CallRecord
from bot.chat.store import Block, attempt

log = logging.getLogger("kefu.chat")


class Direction(StrEnum):
    QUESTION = "question"  # the end user's text: the robot refuses
    ANSWER = "answer"  # an answerer's text: withheld


@dataclass(frozen=True, slots=True)
class Blocked:
    direction: Direction
    term: str


class Books(Protocol):
    """Where accounting writes (``ChatStore`` is one)."""

    async def record_call(
        self,
        licensee_id: str,
        conversation_id: str,
        reply_id: str,
        call: CallRecord,
        now: datetime,
    ) -> None: ...

    async def record_block(self, block: Block, now: datetime) -> None: ...


def author(calls: Sequence[CallRecord], blocked: Blocked) -> tuple[str, str]:
    """(producer, model) of a blocked text: the model that was streaming a blocked answer (its
    call was ok, or cut by the block), else the built-in answerer (a blocked question, or every
    model had failed before it)."""
    last = calls[-1] if calls and blocked.direction == Direction.ANSWER else None
    if last is None or last.outcome not in (CallOutcome.OK, CallOutcome.CANCELLED):
        return knowledge_base.PRODUCER, knowledge_base.MODEL
    return last.provider, last.model


async def account(
    books: Books,
    *,
    licensee_id: str,
    conversation_id: str,
    reply_id: str,
    calls: Sequence[CallRecord],
    blocked: Blocked | None,
    now: datetime,
) -> None:
    """Record every model call of one answer and, when the filter stopped it, the block."""
    for call in calls:
        metrics.model_call(call.provider, call.outcome.value)
        await attempt(
            "recording a model call in the token ledger",
            books.record_call(licensee_id, conversation_id, reply_id, call, now),
        )
    if blocked is None:
        return
    log.warning(
        "content filter stopped a %s of licensee %s (term %r)",
        blocked.direction.value,
        licensee_id,
        blocked.term,
    )
    metrics.content_block(blocked.direction.value)
    producer, model = author(calls, blocked)
    block = Block(
        licensee_id=licensee_id,
        conversation_id=conversation_id,
        reply_id=reply_id,
        direction=blocked.direction.value,
        term=blocked.term,
        producer=producer,
        model=model,
    )
    await attempt("recording a content-filter block", books.record_block(block, now))
