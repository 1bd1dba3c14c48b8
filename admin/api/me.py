"""``/admin/api/me``: who the credentials stand for (a first check for API clients)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from admin.deps import PrincipalDep

router = APIRouter()


class Me(BaseModel):
    user_id: str
    email: str
    name: str
    role: str
    licensee_id: str | None
    can_write: bool


@router.get("/admin/api/me", response_model=Me)
def me(principal: PrincipalDep) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role.value,
        licensee_id=principal.licensee_id,
        can_write=principal.can_write,
    )
