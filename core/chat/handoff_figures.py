"""Hand-off in the usage data: rate, time waiting, first response and conversations per agent,
derived from the stored requests and conversations (never from counters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from core.db.tables import Conversation, Handoff, table_of

_h = table_of(Handoff)
_c = table_of(Conversation)
H, C = _h.c, _c.c


@dataclass(frozen=True, slots=True)
class HandoffFigures:
    conversations: int  # units started in the period
    handed_off: int  # of them, how many asked for a person
    taken: int  # requests an agent accepted
    mean_wait_seconds: float | None  # queued -> accepted, over the taken requests
    mean_first_response_seconds: float | None  # accepted -> the agent's first message
    per_agent: dict[str, int] = field(default_factory=dict)  # agent id -> conversations taken

    @property
    def rate(self) -> float:
        return self.handed_off / self.conversations if self.conversations else 0.0


def figures(session: Session, licensee_id: str, since: datetime, until: datetime) -> HandoffFigures:
    """The licensee's hand-off figures for the units started in [since, until)."""
    started = (C.licensee_id == licensee_id, C.started_at >= since, C.started_at < until)
    conversations = session.execute(select(func.count()).where(*started)).scalar_one()
    rows = session.execute(
        select(H.conversation_id, H.agent_id, H.queued_at, H.assigned_at, H.first_response_at)
        .join(_c, C.id == H.conversation_id)
        .where(*started)
    ).all()
    waits = [(r.assigned_at - r.queued_at).total_seconds() for r in rows if r.assigned_at]
    firsts = [
        (r.first_response_at - r.assigned_at).total_seconds()
        for r in rows
        if r.assigned_at and r.first_response_at
    ]
    per_agent: dict[str, int] = {}
    for r in rows:
        if r.agent_id:
            per_agent[r.agent_id] = per_agent.get(r.agent_id, 0) + 1
    return HandoffFigures(
        conversations=int(conversations),
        handed_off=len({r.conversation_id for r in rows}),
        taken=len(waits),
        mean_wait_seconds=sum(waits) / len(waits) if waits else None,
        mean_first_response_seconds=sum(firsts) / len(firsts) if firsts else None,
        per_agent=per_agent,
    )
