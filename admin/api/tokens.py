"""``/admin/api/tokens``: a licensee admin's API tokens (managed from a signed-in session)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from admin.api.models import Done, NewToken, TokenCreate, TokenRow
from admin.deps import ContextDep, PrincipalDep
from admin.pages.tokens import by_session
from admin.services import tokens
from core.accounts.tokens import IssuedToken, list_tokens
from core.types import utcnow

router = APIRouter(prefix="/admin/api/tokens")


@router.get("", response_model=list[TokenRow])
def token_list(ctx: ContextDep, principal: PrincipalDep) -> list[TokenRow]:
    by_session(principal)
    licensee_id = principal.licensee_id
    assert licensee_id is not None
    return [
        TokenRow(
            id=r.id,
            name=r.name,
            token=r.display,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked=r.revoked_at is not None,
        )
        for r in ctx.db.read(lambda s: list_tokens(s, licensee_id))
    ]


@router.post("", response_model=NewToken, status_code=201)
async def token_create(ctx: ContextDep, principal: PrincipalDep, body: TokenCreate) -> NewToken:
    by_session(principal)
    now = utcnow()

    def write(s: Session) -> IssuedToken:
        return tokens.create(s, principal, now, body.name)

    issued = await ctx.db.write(write)
    return NewToken(id=issued.row.id, token=issued.token)


@router.delete("/{token_id}", response_model=Done)
async def token_revoke(ctx: ContextDep, principal: PrincipalDep, token_id: str) -> Done:
    by_session(principal)
    now = utcnow()
    await ctx.db.write(lambda s: tokens.revoke(s, principal, now, token_id))
    return Done(detail="revoked")
