"""Statements run straight on the driver store and read exactly what ``Connection.execute`` does:
time zones, JSON, booleans, NULLs and RETURNING, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from core.chat import conversations as units
from core.db.engine import Database
from core.db.prepared import Prepared
from core.db.tables import Conversation, KeyKind, Message, table_of
from testkit.tenants import MakeTenant, key_id

C = table_of(Conversation)
M = table_of(Message)
AT = datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=8)))


def test_rows_and_values_match_sqlalchemy(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    row = {
        "id": "conv_1",
        "licensee_id": lic,
        "visitor_id": "v_1",
        "key_id": key_id(db, lic, KeyKind.TEST),
        "test": True,
        "beyond_term": False,
        "started_at": AT,
        "last_activity_at": AT,
        "last_seq": 0,
    }
    with db.engine.begin() as conn:
        conn.execute(insert(C), row)
        fast_insert = Prepared(insert(M))
        base = {"conversation_id": "conv_1", "licensee_id": lic, "visitor_id": "v_1"}
        fast_insert.execute(
            conn,
            {**base, "id": "m1", "seq": 1, "role": "visitor", "text": "<b>hi</b>",
             "client_id": "c1", "created_at": AT},
        )  # fmt: skip
        fast_insert.execute(
            conn,
            {**base, "id": "m2", "seq": 2, "role": "robot", "text": "好的", "client_id": None,
             "created_at": AT, "ai": {"model": "kefu-kb-1", "n": 1}, "sources": []},
        )  # fmt: skip
        query = select(M).order_by(M.c.seq)
        assert Prepared(query).execute(conn, {}) == [tuple(r) for r in conn.execute(query)]
        m1, m2 = Prepared(query).execute(conn, {})
        assert m1.created_at == AT and m1.created_at.tzinfo == UTC
        assert (m1.ai, m1.sources, m2.ai, m2.sources) == (
            None,
            None,
            {"model": "kefu-kb-1", "n": 1},
            [],
        )

        conv = Prepared(select(C).where(C.c.id == "conv_1")).first(conn, {})
        assert conv.test is True and conv.beyond_term is False and conv.started_at == AT

        bump = update(C).values(last_seq=C.c.last_seq + 1).returning(C.c.last_seq)
        assert Prepared(bump).execute(conn, {}) == [(1,)]
        assert conn.execute(bump).scalar_one() == 2  # the same statement, either way

        assert Prepared(select(M.c.id).where(M.c.id == "none")).first(conn, {}) is None


def test_the_chat_path_keeps_its_rules(db: Database, make_tenant: MakeTenant) -> None:
    """The conversation functions on the fast path: a resent client id is a duplicate, and
    a lapsed unit is ended before the next message opens a new one."""
    lic = make_tenant().licensee.id
    who = units.Speaker(lic, "v_1", key_id(db, lic, KeyKind.LIVE), False, False, units.UnitPolicy())
    first = db.writer.run(lambda c: units.record_visitor_message(c, who, "c1", "hi", AT))
    again = db.writer.run(lambda c: units.record_visitor_message(c, who, "c1", "hi", AT))
    assert first.started and again.duplicate and again.message_id == first.message_id
    later = AT + timedelta(hours=1)
    third = db.writer.run(lambda c: units.record_visitor_message(c, who, "c2", "more", later))
    assert third.started and third.ended is not None
    assert third.ended.reason == "idle" and third.conversation.id != first.conversation.id


@pytest.mark.parametrize("method", ["execute", "first"])
def test_errors_are_sqlalchemys_as_from_connection_execute(db: Database, method: str) -> None:
    """The writer retries a lost unique-index race by SQLAlchemy's exception types."""
    bad = Prepared(insert(M))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        getattr(bad, method)(conn, {"id": "m1"})


def test_statements_needing_python_side_defaults_are_refused() -> None:
    """SQLAlchemy computes Python-side defaults in the execution context this path skips."""
    from sqlalchemy import Column, MetaData, String, Table, create_engine

    table = Table(
        "d", MetaData(), Column("k", String, primary_key=True), Column("v", String, default="x")
    )
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError, match="Python-side defaults"):
        Prepared(insert(table)).execute(conn, {"k": "a"})
    with engine.begin() as conn:  # given explicitly, the column needs no default
        Prepared(insert(table)).execute(conn, {"k": "a", "v": "given"})
        assert conn.execute(select(table.c.v)).scalar_one() == "given"
