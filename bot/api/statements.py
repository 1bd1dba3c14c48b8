"""The licensee API (secret key): its statements, as JSON or downloaded as CSV, XLSX or PDF."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bot.deps import LicenseeKeyDep, ServicesDep
from core.billing.downloads import MEDIA_TYPES, Format, filename, parse_format, render
from core.billing.views import StatementView, list_views, month_view
from core.types import utcnow

router = APIRouter(prefix="/v1")


@router.get("/statements")
async def statements(services: ServicesDep, ctx: LicenseeKeyDep) -> JSONResponse:
    def load() -> list[StatementView]:
        with services.db.read_session() as session:
            return list_views(session, ctx.licensee, utcnow())

    views = await asyncio.to_thread(load)
    return JSONResponse([v.summary() for v in views])


def _split(name: str) -> tuple[str, Format | None]:
    month, dot, suffix = name.partition(".")
    return month, parse_format(suffix) if dot else None


@router.get("/statements/{name}", response_model=None)
async def statement(name: str, services: ServicesDep, ctx: LicenseeKeyDep) -> Response:
    """``YYYY-MM`` as JSON; ``YYYY-MM.csv``, ``.detail.csv``, ``.xlsx`` or ``.pdf`` to download."""
    month, fmt = _split(name)
    licensee = ctx.licensee

    def load() -> StatementView:
        with services.db.read_session() as session:
            return month_view(session, licensee, month, utcnow())

    view = await asyncio.to_thread(load)
    if fmt is None:
        return JSONResponse(view.as_json())
    headers = {"Content-Disposition": f'attachment; filename="{filename(view, fmt)}"'}
    settings = services.settings

    def chunks() -> Iterator[bytes]:
        # A reading session for the whole download: the detail streams from one snapshot.
        with services.db.read_session() as session:
            yield from render(session, licensee, view, fmt, settings)

    if fmt == Format.DETAIL_CSV:
        return StreamingResponse(chunks(), media_type=MEDIA_TYPES[fmt], headers=headers)
    body = await asyncio.to_thread(lambda: b"".join(chunks()))
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)
