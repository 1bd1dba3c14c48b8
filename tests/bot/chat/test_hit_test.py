"""The console's hit test says what the widget says, and a taught question is answered after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.chat.hit_test import hit_tester
from bot.chat.services import build_services
from core.chat.unanswered import unanswered_questions
from core.db.engine import Database
from core.db.tables import Message
from core.errors import InvalidInput, NotFound
from core.knowledge.editing import add_similar
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows, load_entries
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.servers import run_server, settings_for
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio

FAQ = [
    KbRow("如何退款？", "在订单页点“申请退款”，三个工作日内到账。", ("怎么退钱", "退款流程")),
    KbRow("营业时间是几点？", "每天 9:00 至 18:00。", ("几点上班",)),
]


@pytest.fixture
def served(db: Database, db_url: str) -> Iterator[str]:
    """A real server with the built-in answerer and the production index."""
    services = build_services(settings_for(db_url), db)
    for address in run_server(services):
        yield f"ws://{address}"


async def widget_answer(ws_url: str, key: str, text: str) -> dict[str, object]:
    chat = await Chat.start(ws_url, key)
    try:
        _, frames = await chat.ask("q1", text)
    finally:
        await chat.close()
    return frames[-1]


async def test_hit_test_ranks_and_answers_as_the_widget_does(
    db: Database, db_url: str, make_tenant: MakeTenant, served: str
) -> None:
    tenant = make_tenant()
    lic = tenant.licensee.id
    with db.session() as s:
        import_rows(s, lic, FAQ, utcnow())
        s.commit()
    test = hit_tester(build_services(settings_for(db_url), db))

    known = await test(lic, "怎么退钱呢", "zh-CN")
    assert known.ranked[0].question == "如何退款？" and known.ranked[0].confident
    assert known.ranked[0].score >= known.threshold > 0
    assert known.ranked == sorted(known.ranked, key=lambda r: -r.score)
    end = await widget_answer(served, tenant.keys.site_key, "怎么退钱呢")
    assert end["text"] == known.answer == FAQ[0].answer
    assert [s["id"] for s in end["sources"]] == [known.answer_entry_id]  # type: ignore[attr-defined]

    unknown = await test(lic, "能开发票吗", "zh-CN")
    assert unknown.answer_entry_id is None
    assert all(not r.confident for r in unknown.ranked)
    end = await widget_answer(served, tenant.keys.site_key, "能开发票吗")
    assert end["text"] == unknown.answer and end["sources"] == []
    with db.read_session() as s:  # the reply is stored as not answered
        stored = s.exec(select(Message).where(Message.text == unknown.answer)).one()
        assert stored.resolved is False
    groups = db.read(lambda s: unanswered_questions(s, lic, utcnow()))
    assert [g.text for g in groups] == ["能开发票吗"]

    # Taught as a phrasing of an entry, it is answered by the widget and leaves the list.
    with db.session() as s:
        refund = next(e for e in load_entries(s, lic) if e.question == "如何退款？")
        add_similar(s, lic, refund.id, groups[0].text, utcnow())
        s.commit()
    taught = await test(lic, "能开发票吗", "zh-CN")
    assert taught.answer_entry_id == refund.id and taught.kb_version == unknown.kb_version + 1
    end = await widget_answer(served, tenant.keys.site_key, "能开发票吗")
    assert end["text"] == taught.answer == FAQ[0].answer
    assert db.read(lambda s: unanswered_questions(s, lic, utcnow())) == []


async def test_hit_test_refuses_bad_questions_and_unknown_licensees(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    test = hit_tester(build_services(settings_for(db_url), db))
    with pytest.raises(InvalidInput):
        await test(lic, "   ", "zh-CN")
    with pytest.raises(InvalidInput):
        await test(lic, "x" * 2001, "zh-CN")
    with pytest.raises(NotFound):
        await test("lic_nope", "hi", "zh-CN")
    empty = await test(lic, "hi", "en")
    assert empty.ranked == [] and empty.answer_entry_id is None and empty.language == "en"
