"""A retry with a used ``Idempotency-Key``: the first request's stored answer, once it exists,
or the key itself when its first request died (its lease ended) before storing its answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlmodel import Session

from bot.api.errors import ApiError
from bot.api.schemas import KefuBlock
from bot.chat.services import ChatServices
from core.chat import idempotency
from core.chat.frames import AiLabel, ConversationRef, SourceRef

POLL_SECONDS = 0.05
# How long a retry waits for the first request's answer (a model's whole answer can take this).
WAIT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Answered:
    text: str
    created: int
    kefu: KefuBlock


@dataclass(frozen=True, slots=True)
class Waiting:
    """The key's holder has not stored an answer yet; ``free``: its lease has ended (or the key
    is gone), so a retry may take the key; ``stored``: the holder's message is stored (the retry
    then answers it rather than storing its own)."""

    holder: idempotency.Taken | None
    free: bool
    stored: bool = False


def _answered(conn: Session, licensee_id: str, taken: idempotency.Taken) -> Answered | None:
    found = idempotency.answer(conn, licensee_id, taken.visitor_id, taken.client_id)
    if found is None:
        return None
    conv, reply = found
    assert reply.ai is not None
    return Answered(
        text=reply.text,
        created=int(reply.at.timestamp()),
        kefu=KefuBlock(
            conversation=ConversationRef(id=conv.id, started_at=conv.started_at, test=conv.test),
            message=reply.id,
            ai=AiLabel(**reply.ai),
            sources=[SourceRef(**s) for s in reply.sources or []],
        ),
    )


def _look(conn: Session, licensee_id: str, key: str, now: datetime) -> Answered | Waiting:
    """The key's answer, or who holds the key and whether it is free to take over. Read again
    at every look: a retry may have taken the key over from a dead holder meanwhile."""
    holder = idempotency.find(conn, licensee_id, key)
    if holder is None:  # refused and given back: the next request takes it afresh
        return Waiting(None, free=True)
    answered = _answered(conn, licensee_id, holder)
    if answered is not None:
        return answered
    lapsed = holder.lease_until is None or holder.lease_until <= now
    stored = idempotency.stored(conn, licensee_id, holder.visitor_id, holder.client_id)
    return Waiting(holder, lapsed, stored)


async def replay(services: ChatServices, licensee_id: str, key: str) -> Answered | Waiting:
    """The answer to the key's message, waiting while its first request is still answering;
    or, as soon as the key is free to take over, that (the caller takes it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        look = partial(_look, licensee_id=licensee_id, key=key, now=services.clock())
        seen = await asyncio.to_thread(services.db.read, look)
        if isinstance(seen, Answered) or seen.free:
            return seen
        if loop.time() > deadline:
            raise ApiError(
                409,
                "the first request with this Idempotency-Key is still being answered; retry later",
                "idempotency_key_in_use",
                "Idempotency-Key",
            )
        await asyncio.sleep(POLL_SECONDS)
