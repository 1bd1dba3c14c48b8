"""Canned answers for agents: the licensee's knowledge-base answers found as they type."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from core.db.tables import KbEntryRecord, table_of

_kb = table_of(KbEntryRecord)
K = _kb.c
MAX_QUERY_CHARS = 100


@dataclass(frozen=True, slots=True)
class Canned:
    id: str
    question: str
    answer: str


def _escaped(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, licensee_id: str, query: str, limit: int = 8) -> list[Canned]:
    """Entries whose question or answer holds every word of ``query`` (any case), questions
    that match first; only ``licensee_id``'s own. An empty query finds nothing."""
    terms = query.strip()[:MAX_QUERY_CHARS].lower().split()[:5]
    if not terms:
        return []
    fields = (func.lower(K.question), func.lower(K.answer), func.lower(K.answer_en))
    every = and_(*(or_(*(f.like(f"%{_escaped(t)}%", escape="\\") for f in fields)) for t in terms))
    in_question = and_(
        *(func.lower(K.question).like(f"%{_escaped(t)}%", escape="\\") for t in terms)
    )
    rows = session.execute(
        select(K.id, K.question, K.answer)
        .where(K.licensee_id == licensee_id, every)
        .order_by(case((in_question, 0), else_=1), K.question)
        .limit(limit)
    ).all()
    return [Canned(r.id, r.question, r.answer) for r in rows]
