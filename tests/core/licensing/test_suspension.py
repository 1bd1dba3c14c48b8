"""Suspension: the status and the end of every open conversation, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.conversations import Recorded, Speaker, UnitPolicy
from core.db.engine import Database
from core.db.tables import ApiKey, Conversation, LicenceStatus, Licensee
from core.ids import token_hash
from core.licensing.suspension import resume, suspend
from testkit.tenants import MakeTenant, Tenant

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
C = Conversation.__table__.c  # type: ignore[attr-defined]


def open_conversations(db: Database, shop: Tenant, visitors: list[str]) -> None:
    key = ApiKey.__table__.c  # type: ignore[attr-defined]

    def record(conn: Session, visitor: str) -> Recorded:
        site_key = token_hash(shop.keys.site_key)
        key_id = conn.execute(select(key.id).where(key.token_hash == site_key)).scalar_one()
        who = Speaker(shop.licensee.id, visitor, key_id, False, False, UnitPolicy())
        return units.record_visitor_message(conn, who, "c1", "hi", NOW)

    for visitor in visitors:
        db.writer.run(partial(record, visitor=visitor))


def endings(db: Database, licensee_id: str) -> list[tuple[str | None, datetime | None]]:
    rows = db.read(
        lambda conn: conn.execute(
            select(C.end_reason, C.ended_at).where(C.licensee_id == licensee_id)
        ).all()
    )
    return [(r.end_reason, r.ended_at) for r in rows]


def test_suspend_ends_every_open_conversation_and_returns_them(
    db: Database, make_tenant: MakeTenant
) -> None:
    shop, other = make_tenant("Shop", now=NOW), make_tenant("Other", now=NOW)
    open_conversations(db, shop, ["v1", "v2"])
    open_conversations(db, other, ["v3"])
    later = NOW + timedelta(minutes=1)
    with db.session() as session:
        ended = suspend(session, shop.licensee.id, later)
        session.commit()
    assert sorted(e.visitor_id for e in ended) == ["v1", "v2"]
    assert {e.reason for e in ended} == {"suspended"}
    assert len(endings(db, shop.licensee.id)) == 2
    assert {reason for reason, _ in endings(db, shop.licensee.id)} == {"suspended"}
    assert endings(db, other.licensee.id) == [(None, None)]  # another licensee's stays open
    with db.read_session() as session:
        licensee = session.get(Licensee, shop.licensee.id)
        assert licensee is not None and licensee.status == LicenceStatus.SUSPENDED

    with db.session() as session:
        assert resume(session, shop.licensee.id, later).status == LicenceStatus.ACTIVE
        session.commit()
    assert {reason for reason, _ in endings(db, shop.licensee.id)} == {"suspended"}


def test_a_suspension_not_committed_changes_nothing(db: Database, make_tenant: MakeTenant) -> None:
    shop = make_tenant("Shop", now=NOW)
    open_conversations(db, shop, ["v1"])
    with db.session() as session:
        assert len(suspend(session, shop.licensee.id, NOW)) == 1
        session.rollback()
    assert endings(db, shop.licensee.id) == [(None, None)]
    with db.read_session() as session:
        licensee = session.get(Licensee, shop.licensee.id)
        assert licensee is not None and licensee.status == LicenceStatus.ACTIVE
