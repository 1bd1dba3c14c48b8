"""The knowledge base over JSON: entries, the hit test and the unanswered questions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from admin.deps import ContextDep
from admin.kb_access import KbReaderDep, KbWriterDep, licensee_for
from core import audit
from core.accounts import Principal
from core.chat.unanswered import unanswered_questions
from core.knowledge import editing
from core.knowledge.entries import KbEntry
from core.knowledge.files import check_row
from core.knowledge.hit_test import HitTester
from core.types import utcnow

router = APIRouter(prefix="/admin/api/kb")


class EntryIn(BaseModel):
    question: str = Field(max_length=10_000)
    answer: str = Field(max_length=100_000)
    answer_en: str = Field(default="", max_length=100_000)
    similar: list[str] = Field(default_factory=list, max_length=1000)
    tags: list[str] = Field(default_factory=list, max_length=1000)


class Entry(BaseModel):
    id: str
    question: str
    answer: str
    answer_en: str
    similar: list[str]
    tags: list[str]


class EntryPage(BaseModel):
    entries: list[Entry]
    total: int
    offset: int
    limit: int


class PhrasingIn(BaseModel):
    phrasing: str = Field(max_length=10_000)


class HitTestIn(BaseModel):
    question: str = Field(max_length=10_000)
    locale: str = Field(default="zh-CN", max_length=16)


class RankedOut(BaseModel):
    entry_id: str
    question: str
    score: float
    confident: bool


class HitTestOut(BaseModel):
    question: str
    language: str
    threshold: float
    ranked: list[RankedOut]
    answer_entry_id: str | None
    answer: str
    kb_version: int


class UnansweredGroup(BaseModel):
    text: str
    count: int
    last_at: datetime | None
    reasons: list[str]
    variants: list[str]
    conversations: list[str]


def _out(entry: KbEntry) -> Entry:
    return Entry(**editing.entry_dict(entry))


def _change(
    ctx: Any,
    principal: Principal,
    licensee_id: str,
    action: str,
    target: str,
    change: Any,
) -> KbEntry:
    """Run ``change(session, now) -> (before, after)`` with its audit entry, in one commit."""
    with ctx.db.session() as session:
        now = utcnow()
        before, after = change(session, now)
        if before != after:
            audit.record(
                session,
                actor=principal,
                action=action,
                target=target or (after or before).id,
                before=editing.entry_dict(before) if before else None,
                after=editing.entry_dict(after) if after else None,
                now=now,
                licensee_id=licensee_id,
            )
        session.commit()
    result: KbEntry = after or before
    return result


@router.get("/{licensee_id}/entries", response_model=EntryPage)
def list_entries(
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee_id: str,
    q: str = "",
    offset: int = 0,
    limit: int = 50,
) -> EntryPage:
    licensee_for(ctx.db, principal, licensee_id)
    page = ctx.db.read(lambda s: editing.search_entries(s, licensee_id, q, offset, limit))
    return EntryPage(
        entries=[_out(e) for e in page.entries],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/{licensee_id}/entries", response_model=Entry, status_code=201)
def add_entry(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, body: EntryIn) -> Entry:
    licensee_for(ctx.db, principal, licensee_id)
    row = check_row(body.question, body.answer, body.similar, body.tags, body.answer_en)
    entry = _change(
        ctx,
        principal,
        licensee_id,
        "kb.entry.add",
        "",
        lambda s, now: (None, editing.add_entry(s, licensee_id, row, now)),
    )
    return _out(entry)


@router.get("/{licensee_id}/entries/{entry_id}", response_model=Entry)
def get_entry(ctx: ContextDep, principal: KbReaderDep, licensee_id: str, entry_id: str) -> Entry:
    licensee_for(ctx.db, principal, licensee_id)
    return _out(ctx.db.read(lambda s: editing.get_entry(s, licensee_id, entry_id)))


@router.put("/{licensee_id}/entries/{entry_id}", response_model=Entry)
def update_entry(
    ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str, body: EntryIn
) -> Entry:
    licensee_for(ctx.db, principal, licensee_id)
    row = check_row(body.question, body.answer, body.similar, body.tags, body.answer_en)
    entry = _change(
        ctx,
        principal,
        licensee_id,
        "kb.entry.edit",
        entry_id,
        lambda s, now: editing.update_entry(s, licensee_id, entry_id, row, now),
    )
    return _out(entry)


@router.delete("/{licensee_id}/entries/{entry_id}", response_model=Entry)
def delete_entry(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str) -> Entry:
    """Delete the entry; the deleted entry."""
    licensee_for(ctx.db, principal, licensee_id)
    entry = _change(
        ctx,
        principal,
        licensee_id,
        "kb.entry.delete",
        entry_id,
        lambda s, now: (editing.delete_entry(s, licensee_id, entry_id, now), None),
    )
    return _out(entry)


@router.post("/{licensee_id}/entries/{entry_id}/similar", response_model=Entry)
def add_similar(
    ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str, body: PhrasingIn
) -> Entry:
    """Teach the entry one more phrasing (an unanswered question)."""
    licensee_for(ctx.db, principal, licensee_id)
    entry = _change(
        ctx,
        principal,
        licensee_id,
        "kb.entry.teach",
        entry_id,
        lambda s, now: editing.add_similar(s, licensee_id, entry_id, body.phrasing, now),
    )
    return _out(entry)


@router.post("/{licensee_id}/hit-test", response_model=HitTestOut)
async def hit_test(
    request: Request, ctx: ContextDep, principal: KbReaderDep, licensee_id: str, body: HitTestIn
) -> HitTestOut:
    """The entries the robot ranks for a question, the threshold and what it would answer."""
    licensee_for(ctx.db, principal, licensee_id)
    tester: HitTester | None = ctx.hooks.get("hit_test")
    if tester is None:
        raise HTTPException(503, "hit testing is not available on this server")
    result = await tester(licensee_id, body.question, body.locale)
    return HitTestOut(
        question=result.question,
        language=result.language,
        threshold=result.threshold,
        ranked=[RankedOut(**vars_of(r)) for r in result.ranked],
        answer_entry_id=result.answer_entry_id,
        answer=result.answer,
        kb_version=result.kb_version,
    )


def vars_of(ranked: Any) -> dict[str, Any]:
    return {
        "entry_id": ranked.entry_id,
        "question": ranked.question,
        "score": ranked.score,
        "confident": ranked.confident,
    }


@router.get("/{licensee_id}/unanswered", response_model=list[UnansweredGroup])
def unanswered(ctx: ContextDep, principal: KbReaderDep, licensee_id: str) -> list[UnansweredGroup]:
    licensee_for(ctx.db, principal, licensee_id)
    now = utcnow()
    groups = ctx.db.read(lambda s: unanswered_questions(s, licensee_id, now))
    return [
        UnansweredGroup(
            text=g.text,
            count=g.count,
            last_at=g.last_at,
            reasons=sorted(g.reasons),
            variants=g.variants,
            conversations=g.conversations,
        )
        for g in groups[:500]
    ]
