"""Token-ledger rows for a test: packages bought, prices set and model calls recorded at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from core.db.engine import Database
from core.ledger.tokens import add_package, record_call, redeem, set_price

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def buy(
    db: Database,
    *,
    tokens: int = 1000,
    price: str = "10",
    provider: str = "deepseek",
    purchased: datetime = T0,
    redeemed: datetime | None = T0,
    currency: str = "CNY",
) -> str:
    """A token package bought at ``purchased`` (and redeemed at ``redeemed``); its id."""
    with db.session() as session:
        package = add_package(
            session, provider, tokens, Decimal(price), currency, "", purchased, purchased
        )
        if redeemed is not None:
            redeem(session, package.id, redeemed)
        session.commit()
        return package.id


def call(db: Database, licensee_id: str, at: datetime, **figures: Any) -> str:
    """`record` in a transaction of its own; ``figures`` are `record`'s keyword arguments."""
    return db.writer.run(lambda conn: record(conn, licensee_id, at, **figures))


def record(
    conn: Session,
    licensee_id: str,
    at: datetime,
    inp: int = 0,
    out: int = 0,
    cache: int = 0,
    provider: str = "deepseek",
    model: str = "deepseek-chat",
) -> str:
    """One model call with these token counts, recorded at ``at``; its id."""
    return record_call(
        conn,
        licensee_id=licensee_id,
        conversation_id=None,
        reply_id=None,
        provider=provider,
        model=model,
        input_tokens=inp,
        output_tokens=out,
        cache_hit_tokens=cache,
        latency_ms=120,
        first_token_ms=40,
        outcome="ok",
        now=at,
    )


def price(db: Database, model: str, frm: date, inp: str, out: str, cache: str, **kw: Any) -> None:
    """Prices per million tokens of ``model`` from ``frm`` (``provider`` defaults to deepseek)."""
    with db.session() as session:
        set_price(session, kw.pop("provider", "deepseek"), model, inp, out, cache, frm, **kw)
        session.commit()
