"""Server-side sessions: a random token in an HttpOnly cookie, its hash in the database."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, select

from core.accounts.principal import Principal
from core.accounts.roles import Role
from core.db.tables import Licensee, User, UserSession
from core.ids import new_id, token_hash

SESSION_COOKIE = "kefu_session"
SESSION_LIFETIME = timedelta(hours=12)  # a working day; then sign in again
# Idle sessions end sooner; ``last_seen_at`` is written at most this often, not per request.
IDLE_LIFETIME = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)


def start_session(session: Session, user: User, now: datetime) -> str:
    """A new session for ``user``; returns the token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=new_id("ses"),
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_secret=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return token


def _live(row: UserSession, now: datetime) -> bool:
    return row.expires_at > now and row.last_seen_at + IDLE_LIFETIME > now


def resolve_session(session: Session, token: str | None, now: datetime) -> Principal | None:
    """The principal a session token stands for, or None (unknown, expired, idle too long)."""
    if not token or len(token) > 200:
        return None
    found = session.exec(
        select(UserSession, User, Licensee.timezone)
        .join(User, User.id == UserSession.user_id)  # type: ignore[arg-type]
        .outerjoin(Licensee, Licensee.id == User.licensee_id)  # type: ignore[arg-type]
        .where(UserSession.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    row, user, licensee_zone = found
    if not _live(row, now):
        return None
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        licensee_id=user.licensee_id,
        session_id=row.id,
        csrf_token=row.csrf_secret,
        seen_at=row.last_seen_at,
        timezone=licensee_zone or user.timezone,
    )


def needs_touch(principal: Principal, now: datetime) -> bool:
    """Whether to record this request as the session's last (at most once a minute)."""
    return principal.seen_at is not None and now - principal.seen_at >= TOUCH_EVERY


def touch_session(session: Session, session_id: str, now: datetime) -> None:
    row = session.get(UserSession, session_id)
    if row is not None:
        row.last_seen_at = now
        session.add(row)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))  # type: ignore[arg-type]


def end_other_sessions(session: Session, user_id: str, keep_session: str) -> None:
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user_id,  # type: ignore[arg-type]
            UserSession.id != keep_session,  # type: ignore[arg-type]
        )
    )


def purge_expired(session: Session, now: datetime) -> int:
    result = session.execute(delete(UserSession).where(UserSession.expires_at <= now))  # type: ignore[arg-type]
    return int(getattr(result, "rowcount", 0) or 0)
