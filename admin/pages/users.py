"""``/admin/users``: the owner's list of everyone; a licensee admin's list of its people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.i18n.errors import error_text
from admin.permissions import check
from admin.render import render
from admin.services import users
from core.accounts import Principal
from core.accounts.users import list_users, parse_role
from core.db.tables import User
from core.errors import KefuError
from core.types import utcnow

router = APIRouter()
Text = Annotated[str, Form(max_length=1000)]


def _page(
    request: Request,
    ctx: AdminContext,
    principal: Principal,
    *,
    refused: KefuError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The page; after a refusal, with its words in the reader's language and its status."""
    error = error_text(refused, request.state.lang) if refused else ""
    status = refused.status if refused else 200
    check(principal, "users.manage")
    scope = principal.licensee_id
    rows = ctx.db.read(lambda s: list_users(s, scope))
    return render(
        request,
        "users.html",
        {
            "rows": rows,
            "roles": [r.value for r in users.creatable_roles(principal)],
            "error": error,
            "values": values or {},
        },
        status,
    )


@router.get("/admin/users")
def user_page(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    return _page(request, ctx, principal)


@router.post("/admin/users")
async def user_create(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    email: Text = "",
    password: Text = "",
    role: Text = "",
    name: Text = "",
    licensee_id: Text = "",
) -> Response:
    check(principal, "users.manage")
    now = utcnow()
    values = {"email": email, "role": role, "name": name, "licensee_id": licensee_id}

    def write(s: Session) -> User:
        return users.create(
            s,
            principal,
            now,
            email=email,
            password=password,
            role=parse_role(role),
            name=name,
            licensee_id=licensee_id.strip() or None,
        )

    try:
        await ctx.db.write(write)
    except KefuError as exc:
        return await run_in_threadpool(_page, request, ctx, principal, refused=exc, values=values)
    return RedirectResponse("/admin/users", 303)


@router.post("/admin/users/{user_id}/remove")
async def user_remove(
    request: Request, ctx: ContextDep, principal: PrincipalDep, user_id: str
) -> Response:
    check(principal, "users.manage")
    now = utcnow()
    try:
        await ctx.db.write(lambda s: users.remove(s, principal, now, user_id))
    except KefuError as exc:
        return await run_in_threadpool(_page, request, ctx, principal, refused=exc)
    return RedirectResponse("/admin/users", 303)
