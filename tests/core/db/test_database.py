"""The unit of work on both databases: a write is visible to every other session once it
returns, a failed write leaves nothing behind, and reads run in a session of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from core.db.engine import Database
from core.db.tables import Licensee, table_of
from core.licensing.licensees import create_licensee
from core.types import utcnow

LICENSEES = table_of(Licensee)


def names(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.execute(select(LICENSEES.c.name).order_by(LICENSEES.c.name)).scalars())


def add(name: str) -> Callable[[Session], str]:
    def write(session: Session) -> str:
        licensee, _keys = create_licensee(
            session, name=name, origins=["https://shop.example.com"], now=utcnow()
        )
        return licensee.id

    return write


def test_an_async_write_is_committed_when_it_returns(db: Database) -> None:
    async def main() -> list[str]:
        return list(await asyncio.gather(*(db.write(add(f"L{i}")) for i in range(5))))

    ids = asyncio.run(main())
    assert len(set(ids)) == 5
    assert names(db) == [f"L{i}" for i in range(5)]  # seen from another connection


def test_a_failed_write_leaves_nothing_and_others_go_on(db: Database) -> None:
    def half_then_fail(session: Session) -> None:
        add("half")(session)
        session.flush()
        raise RuntimeError("changed its mind")

    with pytest.raises(RuntimeError, match="changed its mind"):
        db.run(half_then_fail)
    db.run(add("whole"))
    assert names(db) == ["whole"]


def test_read_hands_out_a_session_of_its_own(db: Database) -> None:
    db.run(add("one"))
    count = db.read(lambda s: s.execute(select(func.count()).select_from(LICENSEES)).scalar_one())
    assert count == 1
