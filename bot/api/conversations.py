"""``GET /v1/conversations/{id}`` and ``POST /v1/conversations/{id}/close``, for the key's
licensee only: another licensee's conversation is as unknown as one that never existed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from bot.api.auth import secret_key
from bot.api.errors import ERROR_RESPONSES, ApiError
from bot.api.schemas import ConversationView
from bot.chat.services import ChatServices
from bot.chat.wire import history_item
from bot.deps import ServicesDep
from core.chat import conversations as units
from core.chat.frames import EndReason
from core.db.tables import Conversation, table_of

router = APIRouter(prefix="/v1", tags=["chat"])
C = table_of(Conversation).c


def _row(conn: Session, licensee_id: str, conversation_id: str) -> Any:
    return conn.execute(
        select(C.id, C.visitor_id, C.started_at, C.ended_at, C.end_reason, C.test).where(
            C.id == conversation_id, C.licensee_id == licensee_id
        )
    ).first()


def _view(conn: Session, licensee_id: str, conversation_id: str) -> ConversationView | None:
    row = _row(conn, licensee_id, conversation_id)
    if row is None:
        return None
    return ConversationView(
        id=row.id,
        started_at=row.started_at.isoformat(),
        ended_at=row.ended_at.isoformat() if row.ended_at else None,
        end_reason=row.end_reason,
        test=row.test,
        history=[history_item(r) for r in units.history(conn, row.id)],
    )


async def _load(services: ChatServices, licensee_id: str, conversation_id: str) -> ConversationView:
    view = await asyncio.to_thread(
        services.db.read,
        partial(_view, licensee_id=licensee_id, conversation_id=conversation_id[:40]),
    )
    if view is None:
        raise ApiError(404, "no such conversation", "conversation_not_found", "id")
    return view


def _json(view: ConversationView) -> JSONResponse:
    return JSONResponse(view.model_dump(mode="json"))


@router.get(
    "/conversations/{conversation_id}", response_model=ConversationView, responses=ERROR_RESPONSES
)
async def get_conversation(
    conversation_id: str, request: Request, services: ServicesDep
) -> Response:
    """The conversation and its messages, as protocol v1 ``history`` items."""
    try:
        ctx = await secret_key(request, services)
        return _json(await _load(services, ctx.licensee.id, conversation_id))
    except ApiError as exc:
        return exc.response()


@router.post(
    "/conversations/{conversation_id}/close",
    response_model=ConversationView,
    responses=ERROR_RESPONSES,
)
async def close_conversation(
    conversation_id: str, request: Request, services: ServicesDep
) -> Response:
    """End the conversation for its end user (closing an ended one changes nothing)."""
    try:
        ctx = await secret_key(request, services)
        licensee = ctx.licensee
        view = await _load(services, licensee.id, conversation_id)
        if view.ended_at is None:
            row = await asyncio.to_thread(
                services.db.read, partial(_row, licensee_id=licensee.id, conversation_id=view.id)
            )
            policy = units.UnitPolicy(idle=timedelta(minutes=licensee.idle_timeout_minutes))
            ending = await services.store.end_open(
                licensee.id, row.visitor_id, EndReason.CLOSED, services.clock(), policy
            )
            if ending is not None:
                await services.tell_ended(ending)
            view = await _load(services, licensee.id, conversation_id)
        return _json(view)
    except ApiError as exc:
        return exc.response()
