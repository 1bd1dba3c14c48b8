"""Idempotency keys of chat over HTTP: the first request with a key owns it, retries replay.

The key is a row whose primary key is (licensee, key), so two processes taking the same key at
once cannot both store a message: the database refuses the second insert, and its caller reads
the first request's row instead.

A holder that dies (a killed process) would leave the key standing for an answer that never
comes. So the row carries a lease, which a living holder renews until its answer is stored. Once
the lease has ended, a retry takes the key over (a compare-and-set on the holder's message id and
the lapsed lease, so that of many retries only one does): with no message stored it stores the
message itself; with the message stored but unanswered it keeps the message id and answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.frames import Role
from core.db.tables import ApiIdempotencyKey, Conversation, Message, table_of

_keys = table_of(ApiIdempotencyKey)
_messages = table_of(Message)
_conversations = table_of(Conversation)
K = _keys.c
MAX_KEY_CHARS = 255


@dataclass(frozen=True, slots=True)
class Taken:
    """Whose message a key stands for; ``first`` when this call took the key."""

    visitor_id: str
    client_id: str
    first: bool
    lease_until: datetime | None = None


def find(session: Session, licensee_id: str, key: str) -> Taken | None:
    row = session.execute(
        select(K.visitor_id, K.client_id, K.lease_until).where(
            K.licensee_id == licensee_id, K.key == key
        )
    ).first()
    if row is None:
        return None
    return Taken(row.visitor_id, row.client_id, first=False, lease_until=row.lease_until)


def take(
    session: Session,
    licensee_id: str,
    key: str,
    visitor_id: str,
    client_id: str,
    now: datetime,
    lease: timedelta,
) -> Taken:
    """Take ``key`` for the message (``visitor_id``, ``client_id``), or find who has it."""
    earlier = find(session, licensee_id, key)
    if earlier is not None:
        return earlier
    session.execute(
        insert(_keys),
        {
            "licensee_id": licensee_id,
            "key": key,
            "visitor_id": visitor_id,
            "client_id": client_id,
            "created_at": now,
            "lease_until": now + lease,
        },
    )
    return Taken(visitor_id, client_id, first=True, lease_until=now + lease)


def stored(session: Session, licensee_id: str, visitor_id: str, client_id: str) -> bool:
    """Whether the key's message is stored (then the key is never taken over)."""
    M = _messages.c
    found = session.execute(
        select(M.id).where(
            M.licensee_id == licensee_id, M.visitor_id == visitor_id, M.client_id == client_id
        )
    ).first()
    return found is not None


def take_over(
    session: Session,
    licensee_id: str,
    key: str,
    holder: Taken,
    visitor_id: str,
    client_id: str,
    now: datetime,
    lease: timedelta,
) -> Taken | None:
    """Take ``key`` from ``holder`` when its lease has ended with no message stored: the
    holder is presumed dead. None when the key is not free (its message is stored, its lease
    runs, or another retry took it over first)."""
    if stored(session, licensee_id, holder.visitor_id, holder.client_id):
        return None
    taken = session.execute(
        update(_keys)
        .where(
            K.licensee_id == licensee_id,
            K.key == key,
            K.client_id == holder.client_id,
            or_(K.lease_until.is_(None), K.lease_until <= now),
        )
        .values(visitor_id=visitor_id, client_id=client_id, lease_until=now + lease)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Taken(visitor_id, client_id, first=True, lease_until=now + lease)


def resume(
    session: Session, licensee_id: str, key: str, holder: Taken, now: datetime, lease: timedelta
) -> Taken | None:
    """Take ``key`` from a ``holder`` presumed dead after storing its message but not its answer
    (its lease ended), keeping its message id: the caller answers that message. None when the
    key is not free (its lease runs, or another retry took it first)."""
    taken = session.execute(
        update(_keys)
        .where(
            K.licensee_id == licensee_id,
            K.key == key,
            K.client_id == holder.client_id,
            or_(K.lease_until.is_(None), K.lease_until <= now),
        )
        .values(lease_until=now + lease)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Taken(holder.visitor_id, holder.client_id, first=True, lease_until=now + lease)


def renew(
    session: Session, licensee_id: str, key: str, client_id: str, now: datetime, lease: timedelta
) -> bool:
    """Extend the lease of the key held for ``client_id``: its holder is alive and answering.
    False when the key is no longer held for that message (given back, or taken over)."""
    renewed = session.execute(
        update(_keys)
        .where(K.licensee_id == licensee_id, K.key == key, K.client_id == client_id)
        .values(lease_until=now + lease)
    )
    return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]


def question(
    session: Session, licensee_id: str, visitor_id: str, client_id: str
) -> tuple[units.ConvRef, units.HistoryRow] | None:
    """The stored message (``visitor_id``, ``client_id``) and its conversation, while it is
    still unanswered."""
    M, C = _messages.c, _conversations.c
    seen = session.execute(
        select(M.id, M.conversation_id).where(
            M.licensee_id == licensee_id, M.visitor_id == visitor_id, M.client_id == client_id
        )
    ).first()
    if seen is None:
        return None
    row = next((r for r in units.waiting(session, seen.conversation_id) if r.id == seen.id), None)
    if row is None:
        return None
    conv = session.execute(
        select(C.id, C.started_at, C.test).where(C.id == seen.conversation_id)
    ).one()
    return units.ConvRef(conv.id, conv.started_at, conv.test), row


def give_back(session: Session, licensee_id: str, key: str, client_id: str) -> None:
    """Forget a key whose request was refused before storing anything (rate limit, licence),
    so that its retry is a new request rather than a replay of nothing."""
    session.execute(
        delete(_keys).where(K.licensee_id == licensee_id, K.key == key, K.client_id == client_id)
    )


def answer(
    session: Session, licensee_id: str, visitor_id: str, client_id: str
) -> tuple[units.ConvRef, units.HistoryRow] | None:
    """The stored message (``visitor_id``, ``client_id``) and the robot's answer to it, once
    both exist. Answers are stored in the order their questions came, so the n-th visitor
    message of a conversation is answered by its n-th robot message."""
    M, C = _messages.c, _conversations.c
    seen = session.execute(
        select(M.conversation_id).where(
            M.licensee_id == licensee_id, M.visitor_id == visitor_id, M.client_id == client_id
        )
    ).first()
    if seen is None:
        return None
    rows = units.history(session, seen.conversation_id)
    asked = [r for r in rows if r.role == Role.VISITOR]
    answers = [r for r in rows if r.role == Role.ROBOT]
    n = next(i for i, r in enumerate(asked) if r.client_id == client_id)
    if n >= len(answers):
        return None
    conv = session.execute(
        select(C.id, C.started_at, C.test).where(C.id == seen.conversation_id)
    ).one()
    return units.ConvRef(conv.id, conv.started_at, conv.test), answers[n]
