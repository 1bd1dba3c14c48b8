"""One "don't know" rule (core.chat.dont_know) for the daily figures, the reports and the
unanswered questions: the same rows give the same count in each, and teaching the robot a
question afterwards takes it off the to-do list without rewriting a past report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from core.chat.unanswered import Reason, unanswered_questions
from core.db.engine import Database
from core.knowledge.editing import add_similar
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows, load_entries
from core.reporting.daily import rebuild, refresh
from core.reporting.figures import report
from testkit.conversations import Exchange, chat
from testkit.tenants import MakeTenant

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = date(2026, 3, 2)
SOURCE = [("kb_x", "运费多少？")]


def _traffic(db: Database, lic: str) -> None:
    chat(db, lic, T0, [Exchange("运费多少", "10 元", resolved=True, sources=SOURCE)])
    chat(db, lic, T0, [Exchange("能开发票吗", "不知道", resolved=False)])
    # A model's reply that cited entries but said it did not know: "don't know", everywhere
    # (a rule on the sources alone would count it answered in the reports only).
    chat(db, lic, T0, [Exchange("周末发货吗？", "我不确定", resolved=False, sources=SOURCE)])
    chat(db, lic, T0, [Exchange("周末发货吗？", "我不确定", resolved=False, sources=SOURCE)])


def _dont_know(db: Database, lic: str, now: datetime) -> tuple[int, int, int]:
    """(the report's "don't know", its answered, the unanswered list's "don't know" questions)"""

    def read(s: object) -> tuple[int, int, int]:
        found = report(s, DAY, DAY, now, lic, availability=False)  # type: ignore[arg-type]
        groups = unanswered_questions(s, lic, now)  # type: ignore[arg-type]
        listed = sum(g.count for g in groups if Reason.DONT_KNOW in g.reasons)
        return found.total("dont_know"), found.total("answered"), listed

    return db.read(read)


def test_the_reports_and_the_unanswered_list_count_the_same_replies(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0).licensee.id
    _traffic(db, lic)
    now = T0 + timedelta(hours=2)
    with db.session() as s:
        refresh(s, now)
        s.commit()
    assert _dont_know(db, lic, now) == (3, 1, 3)
    with db.session() as s:
        rebuild(s, now)
        s.commit()
    assert _dont_know(db, lic, now) == (3, 1, 3)


def test_teaching_a_question_empties_the_list_but_not_last_months_report(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant(now=T0).licensee.id
    _traffic(db, lic)
    with db.session() as s:
        rows = [KbRow("周末发货吗？", "周六发货。"), KbRow("如何开发票？", "在订单页申请。")]
        import_rows(s, lic, rows, T0)
        s.commit()
    later = T0 + timedelta(days=20)
    with db.session() as s:
        entry = next(e for e in load_entries(s, lic) if e.question == "如何开发票？")
        add_similar(s, lic, entry.id, "能开发票吗", later)
        refresh(s, later)
        rebuild(s, later)  # a rebuild of every day from the rows: history stays as it was
        s.commit()
    assert _dont_know(db, lic, later) == (3, 1, 0)
