"""A licensee admin's API tokens (``/admin/tokens``): create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.i18n.errors import error_text
from admin.permissions import check
from admin.render import render
from admin.services import tokens
from core.accounts import Principal
from core.accounts.tokens import IssuedToken, list_tokens
from core.errors import KefuError
from core.types import utcnow

router = APIRouter()


def by_session(principal: Principal) -> Principal:
    """Tokens are made by a person signed in, never by another token."""
    check(principal, "tokens.manage")
    if not principal.session_id:
        raise HTTPException(403, "API tokens are managed from a signed-in session")
    return principal


def _page(
    request: Request,
    ctx: AdminContext,
    principal: Principal,
    *,
    shown: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    assert principal.licensee_id is not None
    licensee_id = principal.licensee_id
    rows = ctx.db.read(lambda s: list_tokens(s, licensee_id))
    return render(request, "tokens.html", {"rows": rows, "shown": shown, "error": error}, status)


@router.get("/admin/tokens")
def token_page(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    return _page(request, ctx, by_session(principal))


@router.post("/admin/tokens")
async def token_create(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    by_session(principal)
    now = utcnow()

    def write(s: Session) -> IssuedToken:
        return tokens.create(s, principal, now, name)

    try:
        issued = await ctx.db.write(write)
    except KefuError as exc:
        return await run_in_threadpool(
            _page,
            request,
            ctx,
            principal,
            error=error_text(exc, request.state.lang),
            status=exc.status,
        )
    return await run_in_threadpool(_page, request, ctx, principal, shown=issued.token)


@router.post("/admin/tokens/{token_id}/revoke")
async def token_revoke(
    request: Request, ctx: ContextDep, principal: PrincipalDep, token_id: str
) -> Response:
    by_session(principal)
    now = utcnow()
    await ctx.db.write(lambda s: tokens.revoke(s, principal, now, token_id))
    return RedirectResponse("/admin/tokens", 303)
