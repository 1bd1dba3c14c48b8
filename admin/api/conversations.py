"""Conversations over JSON: the search (keyset pages) and a transcript as history items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from admin.deps import ContextDep
from admin.kb_access import KbReaderDep
from admin.services import conversations
from core.chat import transcripts as tr

router = APIRouter(prefix="/admin/api/conversations")


class ConversationOut(BaseModel):
    id: str
    licensee_id: str
    licensee_name: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    test: bool
    messages: int
    rating: int | None


class ConversationPageOut(BaseModel):
    conversations: list[ConversationOut]
    next: str | None
    timezone: str


class Source(BaseModel):
    id: str
    question: str


class HistoryItem(BaseModel):
    """A history item of PROTOCOL.md; ``resolved`` False marks a robot reply that did not know."""

    id: str
    role: str
    text: str
    at: datetime
    client_id: str | None = None
    ai: dict[str, Any] | None = None
    sources: list[Source] = []
    resolved: bool | None = None


class TranscriptOut(BaseModel):
    conversation: ConversationOut
    timezone: str
    history: list[HistoryItem]


def _conv(row: tr.ConversationRow) -> ConversationOut:
    return ConversationOut(**{name: getattr(row, name) for name in ConversationOut.model_fields})


@router.get("", response_model=ConversationPageOut)
def search(
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee: str = "",
    start: str = "",
    end: str = "",
    reason: str = "",
    rating: str = "",
    after: str = "",
    limit: int = tr.PAGE_SIZE,
) -> ConversationPageOut:
    """Newest first; pass ``next`` back as ``after`` for the following page."""
    query = conversations.build_search(
        principal, licensee, start, end, reason, rating, after, limit
    )
    page = conversations.search(ctx.db, query)
    return ConversationPageOut(
        conversations=[_conv(r) for r in page.rows], next=page.next, timezone=page.timezone
    )


@router.get("/{conversation_id}", response_model=TranscriptOut)
def transcript(ctx: ContextDep, principal: KbReaderDep, conversation_id: str) -> TranscriptOut:
    t = conversations.transcript(ctx.db, principal, conversation_id)
    return TranscriptOut(
        conversation=_conv(t.conversation),
        timezone=t.timezone,
        history=[
            HistoryItem(
                id=i.id,
                role=i.role,
                text=i.text,
                at=i.at,
                client_id=i.client_id,
                ai=i.ai,
                sources=[
                    Source(id=str(s.get("id", "")), question=str(s.get("question", "")))
                    for s in i.sources
                ],
                resolved=i.resolved,
            )
            for i in t.items
        ],
    )
