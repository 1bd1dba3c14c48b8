"""The unanswered questions: "don't know" replies and thumbs-down conversations, grouped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.chat.unanswered import Asked, Reason, group_questions, unanswered_questions
from core.db.engine import Database
from core.knowledge.editing import add_similar
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows, load_entries
from testkit.conversations import Exchange, chat
from testkit.tenants import MakeTenant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def test_groups_same_text_and_near_duplicates() -> None:
    asked = [
        Asked("能开发票吗？", T0, "c1", Reason.DONT_KNOW),
        Asked("能开发票吗", T0 + timedelta(minutes=1), "c2", Reason.DONT_KNOW),
        Asked("能开发票吗?", T0, "c3", Reason.LOW_RATING),
        Asked("可以开发票吗", T0, "c4", Reason.DONT_KNOW),  # a near-duplicate
        Asked("Do you ship to Canada?", T0, "c5", Reason.DONT_KNOW),
        Asked("Taught already", T0, "c6", Reason.DONT_KNOW),
    ]
    groups = group_questions(asked, taught={"taught already"})
    assert [g.count for g in groups] == [4, 1]
    top = groups[0]
    assert top.reasons == {Reason.DONT_KNOW, Reason.LOW_RATING}
    assert set(top.conversations) == {"c1", "c2", "c3", "c4"}
    assert "可以开发票吗" in top.variants
    assert groups[1].text == "Do you ship to Canada?"


def test_lists_dont_know_and_low_rated_questions_of_the_licensee_only(
    db: Database, make_tenant: MakeTenant
) -> None:
    a, b = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    chat(db, a, T0, [Exchange("能开发票吗", "不知道", resolved=False)])
    chat(db, a, T0, [Exchange("营业时间", "9 点", resolved=True)], rating=1)
    chat(db, a, T0, [Exchange("地址在哪", "上海", resolved=True)], rating=5)
    chat(db, b, T0, [Exchange("B 的问题", "不知道", resolved=False)])
    chat(db, a, T0 - timedelta(days=40), [Exchange("很久以前", "不知道", resolved=False)])
    groups = db.read(lambda s: unanswered_questions(s, a, NOW))
    assert {g.text: g.reasons for g in groups} == {
        "能开发票吗": {Reason.DONT_KNOW},
        "营业时间": {Reason.LOW_RATING},
    }


def test_a_taught_question_leaves_the_list(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    with db.session() as s:
        import_rows(s, lic, [KbRow("如何开发票？", "在订单页申请。")], T0)
        s.commit()
    chat(db, lic, T0, [Exchange("能开发票吗", "不知道", resolved=False)])
    assert [g.text for g in db.read(lambda s: unanswered_questions(s, lic, NOW))] == ["能开发票吗"]
    with db.session() as s:
        entry = load_entries(s, lic)[0]
        add_similar(s, lic, entry.id, "能开发票吗", NOW)
        s.commit()
    assert db.read(lambda s: unanswered_questions(s, lic, NOW)) == []
