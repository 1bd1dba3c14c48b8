"""People's accounts from the console: the owner manages everyone, a licensee's admin the
admins and agents of its own licensee; each change in the audit log."""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException
from sqlmodel import Session

from core import audit
from core.accounts import Principal, Role, create_user
from core.accounts.users import delete_user, get_user, set_timezone
from core.db.tables import User


def creatable_roles(actor: Principal) -> list[Role]:
    if actor.role == Role.OWNER:
        return list(Role)
    return [Role.ADMIN, Role.AGENT]


def create(
    session: Session,
    actor: Principal,
    now: datetime,
    *,
    email: str,
    password: str,
    role: Role,
    name: str,
    licensee_id: str | None,
) -> User:
    if role not in creatable_roles(actor):
        raise HTTPException(403, "your role may not create this role")
    if actor.licensee_id is not None:
        licensee_id = actor.licensee_id  # a licensee's admin makes users of its own licensee
    user = create_user(
        session,
        email=email,
        password=password,
        role=role,
        name=name,
        licensee_id=licensee_id,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="user.created",
        target=user.id,
        before=None,
        after={"email": user.email, "role": user.role, "name": user.name},
        now=now,
        licensee_id=user.licensee_id,
    )
    return user


def remove(session: Session, actor: Principal, now: datetime, user_id: str) -> User:
    user = get_user(session, user_id)
    if actor.licensee_id is not None and user.licensee_id != actor.licensee_id:
        raise HTTPException(404, f"no user {user_id}")  # another licensee's: as if absent
    before = {"email": user.email, "role": user.role, "name": user.name}
    licensee_id = user.licensee_id
    delete_user(session, user_id, actor.user_id)
    audit.record(
        session,
        actor=actor,
        action="user.removed",
        target=user_id,
        before=before,
        after=None,
        now=now,
        licensee_id=licensee_id,
    )
    return user


def set_own_timezone(session: Session, actor: Principal, now: datetime, timezone: str) -> User:
    """A licensor's staff member's own time zone, the console's times are shown and typed in."""
    before = get_user(session, actor.user_id).timezone
    user = set_timezone(session, actor.user_id, timezone)
    audit.record(
        session,
        actor=actor,
        action="user.timezone_changed",
        target=actor.user_id,
        before={"timezone": before},
        after={"timezone": user.timezone},
        now=now,
    )
    return user
