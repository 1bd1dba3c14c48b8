"""Rows for the reports' tests: conversations with replies and ratings, model calls, written
directly (as the chat server writes them) at a chosen time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from core.db.tables import (
    ApiKey,
    Conversation,
    DailyAgent,
    DailyCost,
    DailyFigures,
    DailyLatency,
    Message,
    ModelCall,
    Rating,
    table_of,
)
from core.ids import new_id

_conv, _msg, _rating, _calls = (
    table_of(Conversation),
    table_of(Message),
    table_of(Rating),
    table_of(ModelCall),
)


def key_of(session: Session, licensee_id: str) -> str:
    keys = table_of(ApiKey)
    query = select(keys.c.id).where(keys.c.licensee_id == licensee_id)
    return str(session.execute(query).scalars().first())


def start_conversation(
    session: Session, licensee_id: str, key_id: str, at: datetime, *, test: bool = False
) -> str:
    conv = new_id("conv")
    session.execute(
        insert(_conv).values(
            id=conv,
            licensee_id=licensee_id,
            visitor_id=new_id("vis"),
            key_id=key_id,
            test=test,
            started_at=at,
            last_activity_at=at,
            last_seq=0,
        )
    )
    return conv


def message(
    session: Session,
    conv: str,
    licensee_id: str,
    seq: int,
    role: str,
    at: datetime,
    sources: list[dict[str, Any]] | None = None,
    resolved: bool | None = None,
) -> None:
    """A message; a robot reply knew (``resolved``) when it cites an entry, unless told."""
    if role == "robot" and resolved is None:
        resolved = bool(sources)
    session.execute(
        insert(_msg).values(
            id=new_id("msg"),
            conversation_id=conv,
            licensee_id=licensee_id,
            visitor_id="v",
            seq=seq,
            role=role,
            text="…",
            created_at=at,
            ai={"label": "AI"} if role == "robot" else None,
            sources=sources if role == "robot" else None,
            resolved=resolved if role == "robot" else None,
        )
    )


def rate(session: Session, conv: str, licensee_id: str, score: int, at: datetime) -> None:
    """A rating; a later one replaces the earlier (as ``record_rating`` does)."""
    session.execute(delete(_rating).where(_rating.c.conversation_id == conv))
    session.execute(
        insert(_rating).values(
            conversation_id=conv, licensee_id=licensee_id, score=score, created_at=at
        )
    )


def model_call(
    session: Session, licensee_id: str, at: datetime, cost: Decimal, currency: str = "CNY"
) -> None:
    session.execute(
        insert(_calls).values(
            id=new_id("call"),
            licensee_id=licensee_id,
            provider="deepseek",
            model="deepseek-chat",
            input_tokens=10,
            output_tokens=10,
            cache_hit_tokens=0,
            latency_ms=100,
            outcome="ok",
            cost=cost,
            currency=currency,
            created_at=at,
        )
    )


@dataclass(frozen=True)
class Snapshot:
    figures: dict[tuple[str, date], tuple[int, ...]]
    latency: dict[tuple[str, date, int], int]
    costs: dict[tuple[str, date, str], tuple[int, int]]
    agents: dict[tuple[str, date, str], int]


def snapshot(session: Session) -> Snapshot:
    """Every stored daily figure, for comparing two ways of making them."""
    f, lat, c = table_of(DailyFigures), table_of(DailyLatency), table_of(DailyCost)
    names = [col for col in f.c if col.name not in ("licensee_id", "day")]
    figures = session.execute(select(f.c.licensee_id, f.c.day, *names))
    latency = session.execute(select(lat.c.licensee_id, lat.c.day, lat.c.bucket, lat.c.replies))
    costs = session.execute(
        select(c.c.licensee_id, c.c.day, c.c.currency, c.c.calls, c.c.cost_units)
    )
    a = table_of(DailyAgent).c
    agents = session.execute(select(a.licensee_id, a.day, a.agent_id, a.conversations))
    return Snapshot(
        {(r[0], r[1]): tuple(r[2:]) for r in figures},
        {(r[0], r[1], r[2]): r[3] for r in latency},
        {(r[0], r[1], r[2]): (r[3], r[4]) for r in costs},
        {(r[0], r[1], r[2]): r[3] for r in agents},
    )


HOUR = timedelta(hours=1)
