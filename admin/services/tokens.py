"""A licensee admin's API tokens from the portal, each change in the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core import audit
from core.accounts import Principal
from core.accounts.tokens import IssuedToken, issue_token, revoke_token


def create(session: Session, actor: Principal, now: datetime, name: str) -> IssuedToken:
    issued = issue_token(session, actor, name, now)
    audit.record(
        session,
        actor=actor,
        action="token.created",
        target=issued.row.id,
        before=None,
        after={"name": issued.row.name, "token": issued.row.display},
        now=now,
    )
    return issued


def revoke(session: Session, actor: Principal, now: datetime, token_id: str) -> None:
    assert actor.licensee_id is not None
    row = revoke_token(session, actor.licensee_id, token_id, now)
    audit.record(
        session,
        actor=actor,
        action="token.revoked",
        target=row.id,
        before={"name": row.name, "revoked": False},
        after={"name": row.name, "revoked": True},
        now=now,
    )
