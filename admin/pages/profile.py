"""The reader's own settings beside their password (``/admin/password``): the time zone a
licensor's staff member reads and types the console's times in. A licensee's users read their
licensee's zone, set on the licensee's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin.deps import ContextDep, PrincipalDep
from admin.i18n.errors import error_text
from admin.render import render
from admin.services import users
from core.errors import KefuError
from core.types import utcnow

router = APIRouter()


@router.post("/admin/profile/timezone")
async def own_timezone(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = utcnow()
    try:
        await ctx.db.write(lambda s: users.set_own_timezone(s, principal, now, timezone))
    except KefuError as exc:
        error = error_text(exc, request.state.lang)
        return render(request, "password.html", {"error": error, "notice": ""}, exc.status)
    return RedirectResponse("/admin/password?done=timezone", 303)
