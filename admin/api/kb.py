"""The knowledge base over JSON: entries, the hit test and the unanswered questions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from admin.deps import ContextDep
from admin.i18n.errors import error_text
from admin.kb_access import KbReaderDep, KbWriterDep, licensee_for
from admin.services import kb
from admin.services import robot as robot_settings
from core.chat.unanswered import unanswered_questions
from core.db.tables import Licensee
from core.errors import InvalidInput
from core.knowledge import editing
from core.knowledge.entries import KbEntry
from core.knowledge.files import check_row, read_kb_bytes, several, write_kb_bytes
from core.knowledge.hit_test import HitTester
from core.knowledge.store import load_entries
from core.licensing import model_chain
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
    return _out(kb.add_entry(ctx.db, principal, licensee_id, row))


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
    return _out(kb.update_entry(ctx.db, principal, licensee_id, entry_id, row))


@router.delete("/{licensee_id}/entries/{entry_id}", response_model=Entry)
def delete_entry(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str) -> Entry:
    """Delete the entry; the deleted entry."""
    licensee_for(ctx.db, principal, licensee_id)
    return _out(kb.delete_entry(ctx.db, principal, licensee_id, entry_id))


@router.post("/{licensee_id}/entries/{entry_id}/similar", response_model=Entry)
def add_similar(
    ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str, body: PhrasingIn
) -> Entry:
    """Teach the entry one more phrasing (an unanswered question)."""
    licensee_for(ctx.db, principal, licensee_id)
    return _out(kb.teach(ctx.db, principal, licensee_id, entry_id, body.phrasing))


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


# ------------------------------------------------------------------------------ files


class Rejected(BaseModel):
    line: int
    reason: str  # in the reader's language
    codes: list[str]  # each problem's stable code (kb.row.missing, kb.row.too_long, …)


class ImportOut(BaseModel):
    imported: bool  # False: the file has bad rows and nothing was imported
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: list[Rejected] = []


MAX_UPLOAD_BYTES = 20 * 1024 * 1024
EXPORT_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


@router.post(
    "/{licensee_id}/import",
    response_model=ImportOut,
    responses={422: {"model": ImportOut, "description": "bad rows: nothing imported"}},
)
async def import_file(
    request: Request,
    ctx: ContextDep,
    principal: KbWriterDep,
    licensee_id: str,
    format: Literal["csv", "xlsx", "json"],
    replace: bool = False,
    skip_bad: bool = False,
) -> Response:
    """The request body is the file. All or nothing, as ``kefu kb import``; ``replace`` makes it
    the whole knowledge base."""
    licensee_for(ctx.db, principal, licensee_id)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput(
                f"the file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB",
                code="kb.file_too_large",
                limit=MAX_UPLOAD_BYTES // 1024 // 1024,
            )
    parsed = read_kb_bytes(bytes(data), format)
    lang = request.state.lang
    rejected = [
        Rejected(
            line=r.line,
            reason=error_text(several(r.problems), lang),
            codes=[p.code for p in r.problems],
        )
        for r in parsed.rejected
    ]
    if rejected and not skip_bad:
        body = ImportOut(imported=False, rejected=rejected)
        return JSONResponse(body.model_dump(), status_code=422)
    counts = kb.import_file(
        ctx.db,
        principal,
        licensee_id,
        [p.row for p in parsed.rows],
        replace=replace,
        rejected=len(rejected),
        source={"format": format},
    )
    return JSONResponse(ImportOut(imported=True, rejected=rejected, **counts).model_dump())


@router.get(
    "/{licensee_id}/export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in EXPORT_MEDIA.values()}}},
)
def export_file(
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee_id: str,
    format: Literal["csv", "xlsx", "json"],
) -> Response:
    """The knowledge base as a file in the import format."""
    licensee_for(ctx.db, principal, licensee_id)
    data = write_kb_bytes(ctx.db.read(lambda s: load_entries(s, licensee_id)), format)
    return Response(
        data,
        media_type=EXPORT_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="kb-{licensee_id}.{format}"'},
    )


# ------------------------------------------------------------------------------ the robot


class ModelIn(BaseModel):
    provider: str = Field(max_length=20)
    base_url: str = Field(max_length=500)
    model: str = Field(max_length=200)
    api_key: str | None = Field(default=None, max_length=500)  # None keeps it, "" removes it
    first_token_timeout: float = 10.0
    total_timeout: float = 60.0


class ModelOut(BaseModel):
    slot: int
    provider: str
    base_url: str
    model: str
    api_key: str | None  # "set" or None: a key is never shown back
    first_token_timeout: float
    timeout: float


class Look(BaseModel):
    title: str = Field(max_length=1000)
    greeting: str = Field(max_length=5000)
    color: str = Field(max_length=20)
    position: str = Field(max_length=10)


class Robot(BaseModel):
    models: list[ModelOut]  # empty: the platform's models answer
    look: Look


def _robot(ctx: Any, licensee_id: str) -> Robot:
    def read(session: Any) -> Robot:
        lic = session.get(Licensee, licensee_id)
        models = [
            ModelOut(**model_chain.describe(r)) for r in model_chain.rows(session, licensee_id)
        ]
        return Robot(models=models, look=Look(**robot_settings.look_of(lic)))

    result: Robot = ctx.db.read(read)
    return result


@router.get("/{licensee_id}/robot", response_model=Robot)
def robot(ctx: ContextDep, principal: KbReaderDep, licensee_id: str) -> Robot:
    """The model chain (the built-in answerer is always its last link) and the widget's look."""
    licensee_for(ctx.db, principal, licensee_id)
    return _robot(ctx, licensee_id)


@router.put("/{licensee_id}/robot/models/{slot}", response_model=Robot)
def set_model(
    ctx: ContextDep, principal: KbWriterDep, licensee_id: str, slot: int, body: ModelIn
) -> Robot:
    licensee_for(ctx.db, principal, licensee_id)
    robot_settings.set_model(
        ctx.db,
        ctx.settings,
        principal,
        licensee_id,
        slot,
        provider=body.provider,
        base_url=body.base_url,
        model=body.model,
        api_key=body.api_key,
        first_token_timeout=body.first_token_timeout,
        total_timeout=body.total_timeout,
    )
    return _robot(ctx, licensee_id)


@router.delete("/{licensee_id}/robot/models/{slot}", response_model=Robot)
def clear_model(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, slot: int) -> Robot:
    licensee_for(ctx.db, principal, licensee_id)
    robot_settings.clear_model(ctx.db, principal, licensee_id, slot)
    return _robot(ctx, licensee_id)


@router.put("/{licensee_id}/robot/look", response_model=Robot)
def set_look(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, body: Look) -> Robot:
    licensee_for(ctx.db, principal, licensee_id)
    robot_settings.set_look(ctx.db, principal, licensee_id, body.model_dump())
    return _robot(ctx, licensee_id)
