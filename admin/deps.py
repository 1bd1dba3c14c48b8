"""Dependency aliases of the console: who is asking and what they may do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from admin.context import AdminContext
from admin.security import context_of, gate
from core.accounts import Principal, Role

API_PREFIX = "/admin/api"


def _context(request: Request) -> AdminContext:
    return context_of(request)


ContextDep = Annotated[AdminContext, Depends(_context)]


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/admin/login?next=" + quote(target, safe="/")


def current_principal(request: Request, _: Annotated[None, Depends(gate)]) -> Principal:
    """The signed-in principal; an anonymous page request is sent to sign in, an API call 401."""
    principal: Principal | None = request.state.principal
    if principal is None:
        if request.url.path.startswith(API_PREFIX):
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(303, "sign in first", headers={"Location": login_url(request)})
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for the others)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, "your role may not do this")
        return principal

    return check


def _writer(principal: PrincipalDep) -> Principal:
    if not principal.can_write:
        raise HTTPException(403, "read-only role")
    return principal


WriterDep = Annotated[Principal, Depends(_writer)]
LicensorDep = Annotated[Principal, Depends(require(Role.OWNER, Role.BILLING, Role.SUPPORT))]


def scoped_licensee(principal: Principal, licensee_id: str) -> str:
    """``licensee_id`` if ``principal`` may see it; 404 otherwise (as if it did not exist, so
    one licensee cannot learn another's ids)."""
    if not principal.can_see(licensee_id):
        raise HTTPException(404, f"no licensee {licensee_id}")
    return licensee_id
