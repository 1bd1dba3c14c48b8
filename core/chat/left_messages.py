"""Messages end users leave when nobody can take the chat, and agents' list of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlmodel import Session

from core.chat.frames import MAX_TEXT_CHARS
from core.db.tables import LeftMessage, table_of
from core.errors import InvalidInput
from core.ids import new_id

_l = table_of(LeftMessage)
L = _l.c
MAX_CONTACT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Left:
    id: str
    visitor_id: str
    conversation_id: str | None
    contact: str
    text: str
    locale: str | None
    page: str | None
    created_at: datetime
    done_at: datetime | None


def check(contact: str, text: str) -> tuple[str, str]:
    """The contact and question, trimmed; InvalidInput when either is empty or too long."""
    contact, text = contact.strip(), text.strip()
    if not contact or not text:
        raise InvalidInput("a contact and a question are both needed")
    if len(contact) > MAX_CONTACT_CHARS:
        raise InvalidInput(f"the contact is at most {MAX_CONTACT_CHARS} characters")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"the question is at most {MAX_TEXT_CHARS} characters")
    return contact, text


def leave(
    session: Session,
    *,
    licensee_id: str,
    visitor_id: str,
    conversation_id: str | None,
    contact: str,
    text: str,
    locale: str | None,
    page: str | None,
    now: datetime,
) -> str:
    contact, text = check(contact, text)
    left_id = new_id("lm")
    session.execute(
        insert(_l).values(
            id=left_id,
            licensee_id=licensee_id,
            visitor_id=visitor_id,
            conversation_id=conversation_id,
            contact=contact,
            text=text,
            locale=locale[:35] if locale else None,
            page=page[:2000] if page else None,
            created_at=now,
        )
    )
    return left_id


def listed(
    session: Session, licensee_id: str, *, done: bool = False, limit: int = 200
) -> list[Left]:
    """The licensee's left messages, newest first: the open ones, or (``done``) the handled."""
    query = select(
        L.id,
        L.visitor_id,
        L.conversation_id,
        L.contact,
        L.text,
        L.locale,
        L.page,
        L.created_at,
        L.done_at,
    ).where(L.licensee_id == licensee_id)
    query = query.where(L.done_at.is_not(None) if done else L.done_at.is_(None))
    rows = session.execute(query.order_by(L.created_at.desc()).limit(limit)).all()
    return [Left(*r) for r in rows]


def mark_done(
    session: Session, licensee_id: str, left_id: str, agent_id: str, now: datetime
) -> bool:
    """Mark a left message handled; False when the licensee has no such open message."""
    done = session.execute(
        update(_l)
        .where(L.id == left_id, L.licensee_id == licensee_id, L.done_at.is_(None))
        .values(done_at=now, done_by=agent_id)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done)
