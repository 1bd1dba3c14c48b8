"""A retry with a used ``Idempotency-Key``: the first request's stored answer, once it exists."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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


def _stored(conn: Session, licensee_id: str, taken: idempotency.Taken) -> Answered | None:
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


async def replay(services: ChatServices, licensee_id: str, taken: idempotency.Taken) -> Answered:
    """The answer to the key's message; waits while the first request is still answering."""
    read = partial(_stored, licensee_id=licensee_id, taken=taken)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        answered = await asyncio.to_thread(services.db.read, read)
        if answered is not None:
            return answered
        if loop.time() > deadline:
            raise ApiError(
                409,
                "the first request with this Idempotency-Key is still being answered; retry later",
                "idempotency_key_in_use",
                "Idempotency-Key",
            )
        await asyncio.sleep(POLL_SECONDS)
