"""Conversation pages: search (licensee, dates, end reason, rating), a transcript with its AI
labels and sources, and labelled exports (CSV, JSON, Markdown) of one or of a search."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import col, select

from admin.deps import ContextDep
from admin.i18n.errors import error_text
from admin.kb_access import KbReaderDep
from admin.render import render
from admin.services import conversations as chats
from core.accounts import Principal
from core.chat import transcripts as tr
from core.chat.frames import EndReason
from core.chat.transcript_export import FORMATS, MAX_CONVERSATIONS, export_transcripts
from core.db.engine import Database
from core.db.tables import Licensee
from core.errors import InvalidInput
from core.ids import new_id
from core.licensing.service_period import zone

router = APIRouter()


def _licensees(db: Database, principal: Principal) -> list[Any]:
    """The licensee filter's choices (id and name only: a thousand rows, not a thousand
    objects)."""
    if principal.licensee_id is not None:
        return []
    query = select(Licensee.id, Licensee.name).order_by(col(Licensee.name))
    return list(db.read(lambda s: s.exec(query).all()))


@router.get("/admin/conversations")
def conversations(
    request: Request,
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee: str = "",
    start: str = "",
    end: str = "",
    reason: str = "",
    rating: str = "",
    after: str = "",
) -> Response:
    filters = {"licensee": licensee, "start": start, "end": end, "reason": reason, "rating": rating}
    error = ""
    page = None
    try:
        search = chats.build_search(principal, licensee, start, end, reason, rating, after)
        page = chats.search(ctx.db, search)
    except InvalidInput as exc:
        error = error_text(exc, request.state.lang)
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "conversations.html",
        {
            "filters": filters,
            "licensees": _licensees(ctx.db, principal),
            "reasons": [r.value for r in EndReason],
            "ratings": list(chats.RATINGS),
            "page": page,
            "query": query,
            "after": after,
            "formats": FORMATS,
            "max_export": MAX_CONVERSATIONS,
            "local": (lambda m: m.astimezone(zone(page.timezone)).strftime("%Y-%m-%d %H:%M"))
            if page
            else None,
            "error": error,
        },
        status=400 if error else 200,
    )


def _download(export: Any) -> Response:
    return Response(
        export.data,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/admin/conversations/export.{fmt}")
def export_search(
    request: Request,
    ctx: ContextDep,
    principal: KbReaderDep,
    fmt: str,
    licensee: str = "",
    start: str = "",
    end: str = "",
    reason: str = "",
    rating: str = "",
) -> Response:
    """The newest conversations of a search (at most ``MAX_CONVERSATIONS``) as one file."""
    if fmt not in FORMATS:
        raise HTTPException(404, "no such format")
    ids: list[str] = []
    after = ""
    while len(ids) < MAX_CONVERSATIONS:
        search = chats.build_search(
            principal,
            licensee,
            start,
            end,
            reason,
            rating,
            after,
            limit=min(tr.MAX_PAGE_SIZE, MAX_CONVERSATIONS - len(ids)),
        )
        page = chats.search(ctx.db, search)
        ids += [row.id for row in page.rows]
        if page.next is None:
            break
        after = page.next
    scope = principal.licensee_id
    ts = ctx.db.read(lambda s: tr.transcripts(s, ids, scope))
    export = export_transcripts(
        ts,
        fmt,
        export_id=new_id("exp"),
        propagator=ctx.settings.product_name,
        lang=request.state.lang,
    )
    return _download(export)


@router.get("/admin/conversations/{conversation_id}")
def transcript(
    request: Request, ctx: ContextDep, principal: KbReaderDep, conversation_id: str
) -> Response:
    t = chats.transcript(ctx.db, principal, conversation_id)
    return render(
        request,
        "transcript.html",
        {
            "tx": t,
            "c": t.conversation,
            "formats": FORMATS,
            "local": lambda m: (  # the reader's zone, named beside the start
                m.astimezone(zone(principal.timezone)).strftime("%Y-%m-%d %H:%M:%S") if m else ""
            ),
        },
    )


@router.get("/admin/conversations/{conversation_id}/export.{fmt}")
def export_one(
    request: Request, ctx: ContextDep, principal: KbReaderDep, conversation_id: str, fmt: str
) -> Response:
    if fmt not in FORMATS:
        raise HTTPException(404, "no such format")
    t = chats.transcript(ctx.db, principal, conversation_id)
    export = export_transcripts(
        [t],
        fmt,
        export_id=new_id("exp"),
        propagator=ctx.settings.product_name,
        lang=request.state.lang,
    )
    return _download(export)
