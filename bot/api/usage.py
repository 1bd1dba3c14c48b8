"""The licensee API (secret key): usage details of a month, as JSON or CSV."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bot.deps import LicenseeKeyDep, ServicesDep
from core.errors import InvalidInput
from core.reporting.usage import USAGE_COLUMNS, MonthUsage, month_usage
from core.spreadsheet import csv_bytes

router = APIRouter(prefix="/v1")


def _wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept.split(",")[0]


@router.get("/usage/conversations", response_model=None)
async def usage_conversations(
    request: Request, services: ServicesDep, ctx: LicenseeKeyDep, month: str | None = None
) -> Response:
    if not month:
        raise InvalidInput("month is required, as YYYY-MM")

    def load() -> MonthUsage:
        return services.db.read(lambda conn: month_usage(conn, ctx.licensee, month))

    usage = await asyncio.to_thread(load)
    if _wants_csv(request):
        body = csv_bytes(USAGE_COLUMNS, (line.as_row() for line in usage.lines))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="usage-{usage.month}.csv"',
            },
        )
    payload: dict[str, Any] = {
        "month": usage.month,
        "timezone": ctx.licensee.timezone,
        "units": usage.units,
        "conversations": [
            {
                "id": line.id,
                "started_at": line.started_at.isoformat(),
                "ended_at": line.ended_at.isoformat() if line.ended_at else None,
                "end_reason": line.end_reason,
                "billable": line.billable,
                "test": line.test,
                "messages": line.messages,
                "beyond_term": line.beyond_term,
                "end_user": line.end_user,
            }
            for line in usage.lines
        ],
    }
    return JSONResponse(payload)
