"""The audit log: every change a person makes, recorded in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from core.accounts.principal import Principal
from core.db.tables import AuditEntry


def record(
    session: Session,
    *,
    actor: Principal | None,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
    licensee_id: str | None = None,
) -> AuditEntry:
    """Add one entry; ``actor`` None is the command line (an operator at the server).

    ``licensee_id`` is the licensee the change concerns (for filtering and for a licensee's own
    view); it defaults to the actor's licensee."""
    entry = AuditEntry(
        at=now,
        actor_id=actor.user_id if actor else None,
        actor_email=actor.email if actor else "cli",
        actor_role=actor.role.value if actor else "",
        licensee_id=licensee_id or (actor.licensee_id if actor else None),
        action=action,
        target=target,
        before=_plain(before),
        after=_plain(after),
    )
    session.add(entry)
    return entry


def _plain(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-safe values (dates, Decimals and enums as text); a secret never belongs here."""
    if data is None:
        return None
    return {key: _value(v) for key, v in data.items()}


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return str(value)
