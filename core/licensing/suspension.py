"""Suspending and resuming a licence: a suspension ends every open conversation with it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core.chat import conversations
from core.chat.conversations import Ending
from core.chat.frames import EndReason
from core.db.tables import LicenceStatus, Licensee
from core.errors import Conflict
from core.licensing.licensees import get_licensee, set_status


def suspend(session: Session, licensee_id: str, now: datetime) -> list[Ending]:
    """Suspend the licence and end its open conversations (PRODUCT.md: suspension ends a unit);
    return what ended. The caller commits once, so the status and the endings are one
    transaction: no server sees a suspended licence with a conversation still open.

    Running servers notice the status (``updated_at`` moves) and close the widgets' sockets."""
    set_status(session, licensee_id, LicenceStatus.SUSPENDED, now)
    session.flush()
    return conversations.end_all_open(session, licensee_id, EndReason.SUSPENDED, now)


def resume(session: Session, licensee_id: str, now: datetime) -> Licensee:
    """Make the licence active again; conversations that a suspension ended stay ended.

    A revoked licence is not resumed: a renewal lifts a revocation by term (core.licensing.
    renewal), and only before its data is purged."""
    if get_licensee(session, licensee_id).status == LicenceStatus.REVOKED:
        raise Conflict(
            f"{licensee_id} is revoked, not suspended: renew it instead",
            code="licensee.revoked_not_suspended",
            id=licensee_id,
        )
    return set_status(session, licensee_id, LicenceStatus.ACTIVE, now)
