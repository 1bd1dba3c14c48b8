"""Licensee admins' API tokens (``kat_…``): made in the portal, scoped to the licensee, stored
as a hash, shown once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.accounts.principal import Principal
from core.accounts.roles import Role
from core.db.tables import AccessToken, Licensee
from core.errors import InvalidInput, NotFound
from core.ids import new_id, new_token, token_hash

PREFIX = "kat_"
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedToken:
    row: AccessToken
    token: str  # the only time it exists in clear


def issue_token(session: Session, creator: Principal, name: str, now: datetime) -> IssuedToken:
    """A new token for the creator's licensee (licensee admins only: licensor staff sign in)."""
    if creator.role != Role.ADMIN or creator.licensee_id is None:
        raise InvalidInput("API tokens belong to a licensee's admin", code="token.admin_only")
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise InvalidInput("a token needs a name of 1 to 100 characters", code="token.name_length")
    token = new_token(PREFIX, 32)
    row = AccessToken(
        id=new_id("tok"),
        licensee_id=creator.licensee_id,
        created_by=creator.user_id,
        name=name,
        token_hash=token_hash(token),
        display=token[:10] + "…",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row, token)


def list_tokens(session: Session, licensee_id: str) -> list[AccessToken]:
    return list(
        session.exec(
            select(AccessToken)
            .where(AccessToken.licensee_id == licensee_id)
            .order_by(col(AccessToken.created_at))
        )
    )


def revoke_token(session: Session, licensee_id: str, token_id: str, now: datetime) -> AccessToken:
    row = session.get(AccessToken, token_id)
    if row is None or row.licensee_id != licensee_id:  # another licensee's: as if absent
        raise NotFound(f"no token {token_id}", code="token.not_found", id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


def resolve_token(session: Session, token: str, now: datetime) -> Principal | None:
    """The principal a live token stands for: its licensee's admin role, scoped to it."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.exec(
        select(AccessToken).where(AccessToken.token_hash == token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    licensee = session.get(Licensee, row.licensee_id)
    if licensee is None:
        return None
    return Principal(
        user_id=row.id,
        email=f"token:{row.name}",
        name=row.name,
        role=Role.ADMIN,
        licensee_id=row.licensee_id,
        timezone=licensee.timezone,
    )


def needs_touch(row: AccessToken, now: datetime) -> bool:
    return row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY


def touch_token(session: Session, token_id: str, now: datetime) -> None:
    row = session.get(AccessToken, token_id)
    if row is not None and needs_touch(row, now):
        row.last_used_at = now
        session.add(row)
