"""Conversations written for a test through core's own rules: questions, replies, end, rating."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from core.chat import conversations as units
from core.chat.branding import AI_CONTENT_PRODUCER, AI_LABEL
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import KeyKind
from core.ids import new_id
from testkit.tenants import key_id


@dataclass(frozen=True, slots=True)
class Exchange:
    """A visitor question and the robot's reply (``resolved`` False: it did not know)."""

    question: str
    answer: str
    resolved: bool = True
    sources: Sequence[tuple[str, str]] = ()  # (entry id, question)


def chat(
    db: Database,
    licensee_id: str,
    at: datetime,
    exchanges: Sequence[Exchange],
    *,
    visitor: str | None = None,
    end: EndReason | None = EndReason.CLOSED,
    rating: int | None = None,
    lang: str = "zh",
) -> str:
    """One conversation of ``exchanges`` starting at ``at`` (a minute apart); its id."""
    who = units.Speaker(
        licensee_id=licensee_id,
        visitor_id=visitor or new_id("vis"),
        key_id=key_id(db, licensee_id, KeyKind.LIVE),
        test=False,
        beyond_term=False,
        policy=units.UnitPolicy(),
    )
    conversation = ""
    moment = at
    for n, ex in enumerate(exchanges):

        def ask(s: Session, ex: Exchange = ex, moment: datetime = moment, n: int = n) -> str:
            recorded = units.record_visitor_message(
                s, who, f"c{n}-{new_id('m')}", ex.question, moment
            )
            reply_id = new_id("msg")
            units.record_reply(
                s,
                conversation_id=recorded.conversation.id,
                licensee_id=licensee_id,
                visitor_id=who.visitor_id,
                message_id=reply_id,
                text=ex.answer,
                ai={
                    "label": AI_LABEL[lang],
                    "producer": AI_CONTENT_PRODUCER,
                    "model": "kefu-kb-1",
                    "content_id": reply_id,
                },
                sources=[{"id": i, "question": q} for i, q in ex.sources],
                now=moment + timedelta(seconds=1),
                resolved=ex.resolved,
            )
            return recorded.conversation.id

        conversation = db.run(ask)
        moment += timedelta(minutes=1)
    if end is not None:
        db.run(lambda s: units.end_open(s, licensee_id, who.visitor_id, end, moment))
        if rating is not None:
            db.run(
                lambda s: units.record_rating(s, licensee_id, who.visitor_id, rating, None, moment)
            )
    return conversation
