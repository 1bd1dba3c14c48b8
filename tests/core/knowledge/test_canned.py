"""Canned answers: a licensee's own entries, every word, questions first, wildcards literal."""

from __future__ import annotations

from datetime import UTC, datetime

from core.db.engine import Database
from core.db.tables import KbEntryRecord
from core.knowledge.canned import search
from testkit.tenants import MakeTenant

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def entry(lic: str, n: int, question: str, answer: str) -> KbEntryRecord:
    return KbEntryRecord(
        id=f"kb_{lic[-4:]}_{n}",
        licensee_id=lic,
        question=question,
        answer=answer,
        created_at=NOW,
        updated_at=NOW,
    )


def test_search_as_you_type(db: Database, make_tenant: MakeTenant) -> None:
    mine = make_tenant("A").licensee.id
    other = make_tenant("B", origins=["https://b.example.com"]).licensee.id
    with db.session() as s:
        s.add(entry(mine, 1, "怎么退货？", "七天无理由退货，在订单页申请。"))
        s.add(entry(mine, 2, "Shipping time", "Orders ship in 2 days; returns take 7."))
        s.add(entry(mine, 3, "100% refund?", "Yes, a full refund."))
        s.add(entry(other, 1, "退货地址", "B's own address"))
        s.commit()
    assert [c.question for c in db.read(lambda s: search(s, mine, "退货"))] == ["怎么退货？"]
    assert [c.question for c in db.read(lambda s: search(s, mine, "RETURNS"))] == ["Shipping time"]
    assert [c.question for c in db.read(lambda s: search(s, mine, "ship days"))] == [
        "Shipping time"
    ]
    assert db.read(lambda s: search(s, mine, "ship nothing")) == []
    assert [c.question for c in db.read(lambda s: search(s, mine, "100%"))] == ["100% refund?"]
    assert db.read(lambda s: search(s, mine, "_")) == []  # a wildcard is just a character
    assert db.read(lambda s: search(s, mine, "   ")) == []
    assert [c.answer for c in db.read(lambda s: search(s, other, "退货"))] == ["B's own address"]
