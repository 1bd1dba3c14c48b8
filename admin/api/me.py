"""``/admin/api/me``: who the credentials stand for (a first check for API clients), and the
time zone the console reads their times in (a licensor's staff member may set their own)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from pydantic import BaseModel, Field

from admin.deps import ContextDep, PrincipalDep
from admin.services import users
from core.types import utcnow

router = APIRouter()


class Me(BaseModel):
    user_id: str
    email: str
    name: str
    role: str
    licensee_id: str | None
    can_write: bool
    timezone: str  # the licensee's for a licensee's user or token, else the user's own


class MeIn(BaseModel):
    timezone: str = Field(max_length=64, description="an IANA time zone, e.g. Europe/Berlin")


@router.get("/admin/api/me", response_model=Me)
def me(principal: PrincipalDep) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role.value,
        licensee_id=principal.licensee_id,
        can_write=principal.can_write,
        timezone=principal.timezone,
    )


@router.patch("/admin/api/me", response_model=Me)
async def set_me(ctx: ContextDep, principal: PrincipalDep, body: MeIn) -> Me:
    """A licensor's staff member's own time zone (400 for a licensee's user: theirs is the
    licensee's)."""
    now = utcnow()
    zone = await ctx.db.write(
        lambda s: users.set_own_timezone(s, principal, now, body.timezone).timezone
    )
    return me(replace(principal, timezone=zone))
