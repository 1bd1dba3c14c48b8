"""The chat server's storage port: every read and write a session or a job makes, by name.

The session and the jobs never hold a connection; they call ``ChatStore``. ``DatabaseStore`` is
the one implementation, over core's rules and ``Database.write`` (durable before it returns);
a test may hand in another. ``attempt`` is the one way to make a write whose failure the chat
survives (logged, never raised).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlmodel import Session, col, select

from bot.answerers.contract import CallRecord
from core.chat import conversations as units
from core.chat.frames import EndReason
from core.db.engine import Database, unreachable
from core.db.tables import ApiKey, Licensee
from core.ledger import tokens
from core.licensing import identity
from core.licensing.licensees import check_keys_live
from core.moderation import blocks

log = logging.getLogger("kefu.chat")
T = TypeVar("T")


async def attempt(what: str, write: Awaitable[T]) -> T | None:
    """Await ``write``; on failure log ``what`` failed and return None (the chat goes on)."""
    try:
        return await write
    except Exception as exc:
        if unreachable(exc):
            log.warning("%s failed: database unreachable (%r)", what, exc)
        else:
            log.exception("%s failed", what)
        return None


@dataclass(frozen=True, slots=True)
class Opening:
    """What a hello finds: the open unit (if any), its latest messages (``more``: earlier ones
    exist), the visitor messages still unanswered, and whether a verified user's visitor is
    already recorded."""

    conversation: units.ConvRef | None
    history: list[units.HistoryRow]
    user_recorded: bool
    more: bool = False
    waiting: list[units.HistoryRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Block:
    """A content-filter block, for its log."""

    licensee_id: str
    conversation_id: str
    reply_id: str
    direction: str  # "question" or "answer"
    term: str
    producer: str
    model: str


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """A robot reply, for its record."""

    licensee_id: str
    visitor_id: str
    conversation_id: str
    message_id: str
    text: str
    ai: dict[str, Any]
    sources: list[dict[str, Any]]
    resolved: bool | None = None  # False: the robot did not know (the unanswered questions)


class ChatStore(Protocol):
    async def open(
        self,
        licensee_id: str,
        visitor_id: str,
        policy: units.UnitPolicy,
        now: datetime,
        user_id: str | None = None,
        limit: int = 50,
    ) -> Opening: ...

    async def history_before(
        self, licensee_id: str, visitor_id: str, message_id: str, limit: int
    ) -> units.Page:
        """The end user's messages before ``message_id``, latest ``limit`` of them."""
        ...

    async def unanswered(self, conversation_id: str) -> set[str]:
        """The ids of the conversation's visitor messages that still have no answer."""
        ...

    async def record_end_user(
        self, licensee_id: str, visitor_id: str, user_id: str, now: datetime
    ) -> None: ...

    async def record_message(
        self, who: units.Speaker, client_id: str, text: str, now: datetime
    ) -> units.Recorded | units.Refused: ...

    async def record_reply(self, reply: ReplyRecord, now: datetime) -> None: ...

    async def record_call(
        self,
        licensee_id: str,
        conversation_id: str,
        reply_id: str,
        call: CallRecord,
        now: datetime,
    ) -> None: ...

    async def record_block(self, block: Block, now: datetime) -> None: ...

    async def end_open(
        self,
        licensee_id: str,
        visitor_id: str,
        reason: EndReason,
        now: datetime,
        policy: units.UnitPolicy,
    ) -> units.Ending | None: ...

    async def record_rating(
        self, licensee_id: str, visitor_id: str, score: int, comment: str | None, now: datetime
    ) -> units.ConvRef | None: ...

    async def sweep(self, now: datetime) -> list[units.Ending]:
        """End one batch of lapsed units (at most ``units.SWEEP_BATCH``)."""
        ...

    async def licences(
        self, licensee_ids: Sequence[str], key_ids: Sequence[str]
    ) -> tuple[list[Licensee], list[str]]:
        """The licensees' current rows, and which of the keys are revoked."""
        ...


class DatabaseStore:
    """``ChatStore`` over core's rules: writes in ``Database.write``, reads in a thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _read(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.db.read, fn)

    async def open(
        self,
        licensee_id: str,
        visitor_id: str,
        policy: units.UnitPolicy,
        now: datetime,
        user_id: str | None = None,
        limit: int = 50,
    ) -> Opening:
        def load(conn: Session) -> Opening:
            conv = units.open_conversation(conn, licensee_id, visitor_id, policy, now)
            known = user_id is None or identity.is_recorded(conn, licensee_id, visitor_id)
            if conv is None:
                return Opening(None, [], known)
            page = units.latest(conn, conv.id, limit)
            return Opening(conv, page.rows, known, page.more, units.waiting(conn, conv.id))

        return await self._read(load)

    async def history_before(
        self, licensee_id: str, visitor_id: str, message_id: str, limit: int
    ) -> units.Page:
        return await self._read(
            partial(
                units.page_before,
                licensee_id=licensee_id,
                visitor_id=visitor_id,
                message_id=message_id,
                limit=limit,
            )
        )

    async def unanswered(self, conversation_id: str) -> set[str]:
        def still(conn: Session) -> set[str]:
            return {r.id for r in units.waiting(conn, conversation_id)}

        return await self._read(still)

    async def record_end_user(
        self, licensee_id: str, visitor_id: str, user_id: str, now: datetime
    ) -> None:
        await self.db.write(
            partial(
                identity.record_end_user,
                licensee_id=licensee_id,
                visitor_id=visitor_id,
                user_id=user_id,
                now=now,
            )
        )

    async def record_message(
        self, who: units.Speaker, client_id: str, text: str, now: datetime
    ) -> units.Recorded | units.Refused:
        def store(conn: Session) -> units.Recorded | units.Refused:
            check_keys_live(conn, (who.key_id, *who.credentials))
            return units.offer_visitor_message(conn, who, client_id, text, now)

        return await self.db.write(store)

    async def record_reply(self, reply: ReplyRecord, now: datetime) -> None:
        await self.db.write(
            partial(
                units.record_reply,
                conversation_id=reply.conversation_id,
                licensee_id=reply.licensee_id,
                visitor_id=reply.visitor_id,
                message_id=reply.message_id,
                text=reply.text,
                ai=reply.ai,
                sources=reply.sources,
                now=now,
                resolved=reply.resolved,
            )
        )

    async def record_call(
        self,
        licensee_id: str,
        conversation_id: str,
        reply_id: str,
        call: CallRecord,
        now: datetime,
    ) -> None:
        await self.db.write(
            partial(
                tokens.record_call,
                licensee_id=licensee_id,
                conversation_id=conversation_id,
                reply_id=reply_id,
                provider=call.provider,
                model=call.model,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                cache_hit_tokens=min(call.cache_hit_tokens, call.input_tokens),
                latency_ms=call.latency_ms,
                first_token_ms=call.first_token_ms,
                outcome=call.outcome.value,
                now=now,
            )
        )

    async def record_block(self, block: Block, now: datetime) -> None:
        await self.db.write(
            partial(
                blocks.record_block,
                licensee_id=block.licensee_id,
                conversation_id=block.conversation_id,
                reply_id=block.reply_id,
                direction=block.direction,
                term=block.term,
                producer=block.producer,
                model=block.model,
                now=now,
            )
        )

    async def end_open(
        self,
        licensee_id: str,
        visitor_id: str,
        reason: EndReason,
        now: datetime,
        policy: units.UnitPolicy,
    ) -> units.Ending | None:
        return await self.db.write(
            partial(
                units.end_open,
                licensee_id=licensee_id,
                visitor_id=visitor_id,
                reason=reason,
                now=now,
                policy=policy,
            )
        )

    async def record_rating(
        self, licensee_id: str, visitor_id: str, score: int, comment: str | None, now: datetime
    ) -> units.ConvRef | None:
        return await self.db.write(
            partial(
                units.record_rating,
                licensee_id=licensee_id,
                visitor_id=visitor_id,
                score=score,
                comment=comment,
                now=now,
            )
        )

    async def sweep(self, now: datetime) -> list[units.Ending]:
        return await self.db.write(partial(units.sweep, now=now))

    async def licences(
        self, licensee_ids: Sequence[str], key_ids: Sequence[str]
    ) -> tuple[list[Licensee], list[str]]:
        def load() -> tuple[list[Licensee], list[str]]:
            with self.db.read_session() as session:
                licensees = session.exec(
                    select(Licensee).where(col(Licensee.id).in_(list(licensee_ids)))
                )
                revoked = session.exec(
                    select(ApiKey.id).where(
                        col(ApiKey.id).in_(list(key_ids)), col(ApiKey.revoked_at).is_not(None)
                    )
                )
                return list(licensees), list(revoked)

        return await asyncio.to_thread(load)
