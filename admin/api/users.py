"""``/admin/api/users``: the users page as JSON (owner: everyone; licensee admin: its own)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import Session

from admin.api.models import Done
from admin.deps import ContextDep, PrincipalDep
from admin.permissions import check
from admin.services import users
from core.accounts import Role
from core.accounts.users import list_users
from core.db.tables import User
from core.types import utcnow

router = APIRouter(prefix="/admin/api/users")


class UserRow(BaseModel):
    id: str
    email: str
    name: str
    role: str
    licensee_id: str | None
    created_at: datetime


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)
    role: Role
    name: str = Field("", max_length=100)
    licensee_id: str | None = None


def _row(user: User) -> UserRow:
    return UserRow.model_validate(user, from_attributes=True)


@router.get("", response_model=list[UserRow])
def user_list(ctx: ContextDep, principal: PrincipalDep) -> list[UserRow]:
    check(principal, "users.manage")
    scope = principal.licensee_id
    return [_row(u) for u in ctx.db.read(lambda s: list_users(s, scope))]


@router.post("", response_model=UserRow, status_code=201)
async def user_create(ctx: ContextDep, principal: PrincipalDep, body: UserCreate) -> UserRow:
    check(principal, "users.manage")
    now = utcnow()

    def write(s: Session) -> User:
        return users.create(
            s,
            principal,
            now,
            email=body.email,
            password=body.password,
            role=body.role,
            name=body.name,
            licensee_id=body.licensee_id,
        )

    return _row(await ctx.db.write(write))


@router.delete("/{user_id}", response_model=Done)
async def user_remove(ctx: ContextDep, principal: PrincipalDep, user_id: str) -> Done:
    check(principal, "users.manage")
    now = utcnow()
    await ctx.db.write(lambda s: users.remove(s, principal, now, user_id))
    return Done(detail="removed")
