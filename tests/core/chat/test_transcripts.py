"""Conversation search (filters, licensee's dates, keyset pages), transcripts and their exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from core.chat import conversations as units
from core.chat import transcripts as tr
from core.chat.frames import EndReason
from core.chat.transcript_export import MAX_CONVERSATIONS, export_transcripts
from core.db.engine import Database
from core.errors import InvalidInput, NotFound
from testkit.conversations import Exchange, chat
from testkit.tenants import MakeTenant

# 2026-03-01 23:30 in Shanghai is 15:30 UTC: the licensee's day, not UTC's, decides the date.
LATE = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
HELLO = [Exchange("你好", "您好！", sources=[("kb_1", "问候")])]


def search(db: Database, **kw: object) -> tr.ConversationPage:
    return db.read(lambda s: tr.search_conversations(s, tr.Search(**kw)))  # type: ignore[arg-type]


def test_filters_by_licensee_date_reason_and_rating(db: Database, make_tenant: MakeTenant) -> None:
    a, b = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    late = chat(db, a, LATE, HELLO, rating=5, visitor="vis_late")
    idle = chat(db, a, LATE + timedelta(hours=1), HELLO, end=EndReason.IDLE, rating=1)
    other = chat(db, b, LATE, HELLO)

    def ids(**kw: object) -> list[str]:
        return [r.id for r in search(db, **kw).rows]

    assert ids(licensee_id=a) == [idle, late]
    assert ids() == [idle, other, late] or set(ids()) == {idle, late, other}
    # 23:30 Shanghai on 1 March belongs to 1 March; 00:30 on 2 March to 2 March.
    assert ids(licensee_id=a, start=date(2026, 3, 1), end=date(2026, 3, 1)) == [late]
    assert ids(licensee_id=a, start=date(2026, 3, 2)) == [idle]
    assert ids(licensee_id=a, end_reason=EndReason.IDLE) == [idle]
    assert ids(licensee_id=a, max_rating=2) == [idle]
    assert ids(licensee_id=a, min_rating=4) == [late]
    # Every licensee: the score kept on the conversation, the latest rating's.
    assert ids(max_rating=2) == [idle] and ids(min_rating=4) == [late]
    again = LATE + timedelta(days=1)
    db.run(lambda s: units.record_rating(s, a, "vis_late", 2, None, again))  # replaces the 5
    assert ids(max_rating=2) == [idle, late] and ids(min_rating=3) == []
    row = search(db, licensee_id=a).rows[0]
    assert (row.rating, row.end_reason, row.messages, row.licensee_name) == (1, "idle", 2, "A")


def test_keyset_pages_cover_every_conversation_once(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    made = [chat(db, lic, LATE + timedelta(minutes=5 * i), HELLO) for i in range(7)]
    seen: list[str] = []
    after = None
    while True:
        page = search(db, licensee_id=lic, limit=3, after=after)
        seen += [r.id for r in page.rows]
        if page.next is None:
            break
        after = page.next
    assert seen == list(reversed(made))


@pytest.mark.parametrize(
    "kw",
    [
        {"min_rating": 0},
        {"max_rating": 6},
        {"start": date(2026, 3, 2), "end": date(2026, 3, 1)},
        {"limit": 0},
        {"limit": 1000},
        {"after": "not a cursor!"},
        {"after": "eA"},
    ],
)
def test_bad_searches_are_refused(db: Database, kw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        search(db, **kw)


def test_transcript_is_scoped_to_its_licensee(db: Database, make_tenant: MakeTenant) -> None:
    a, b = make_tenant("A").licensee.id, make_tenant("B").licensee.id
    conv = chat(db, a, LATE, HELLO)
    t = db.read(lambda s: tr.transcript(s, conv, a))
    assert [(i.role, i.text) for i in t.items] == [("visitor", "你好"), ("robot", "您好！")]
    assert t.items[0].client_id and t.items[0].ai is None
    assert t.items[1].ai is not None and t.items[1].ai["label"] == "内容由AI生成"
    assert t.items[1].sources == [{"id": "kb_1", "question": "问候"}]
    with pytest.raises(NotFound):
        db.read(lambda s: tr.transcript(s, conv, b))
    assert db.read(lambda s: tr.transcript(s, conv, None)).conversation.id == conv


def _export(db: Database, conv_ids: list[str], fmt: str, lang: str = "zh") -> bytes:
    ts = db.read(lambda s: tr.transcripts(s, conv_ids))
    return export_transcripts(ts, fmt, export_id="exp_1", propagator="kefu", lang=lang).data


def _count_aigc(value: object) -> int:
    if isinstance(value, dict):
        return sum(1 for k in value if k == "AIGC") + sum(_count_aigc(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_aigc(v) for v in value)
    return 0


AIGC_FIELDS = {
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
}
MARKUP = [Exchange("=1+1 <b>?", "<script>alert(1)</script> **bold**", resolved=False)]


def test_json_export_labels_every_robot_answer_and_has_one_aigc(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    convs = [chat(db, lic, LATE, HELLO + MARKUP), chat(db, lic, LATE, HELLO, lang="en")]
    doc = json.loads(_export(db, convs, "json"))
    assert _count_aigc(doc) == 1
    assert set(doc["AIGC"]) == AIGC_FIELDS and doc["AIGC"]["Label"] == "1"
    robots = [i for c in doc["conversations"] for i in c["history"] if i["role"] == "robot"]
    assert len(robots) == 3
    assert all(i["ai_label"] and i["ai"]["content_id"] for i in robots)
    assert {i["ai_label"] for i in robots} == {"内容由AI生成", "AI-generated"}
    assert doc["conversations"][0]["started_at"].endswith("+08:00")


def test_csv_export_is_neutralised_with_a_bom_and_one_aigc(
    db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    conv = chat(db, lic, LATE, HELLO + MARKUP)
    data = _export(db, [conv], "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    meta = json.loads(rows[0][0])
    assert len(rows[0]) == 1 and set(meta["AIGC"]) == AIGC_FIELDS
    assert sum(cell.count('"AIGC"') for row in rows for cell in row) == 1
    header, body = rows[1], rows[2:]
    table = [dict(zip(header, r, strict=True)) for r in body]
    robots = [r for r in table if r["role"] == "robot"]
    assert len(robots) == 2 and all(r["ai_label"] == "内容由AI生成" for r in robots)
    assert all(r["ai_label"] == "" for r in table if r["role"] == "visitor")
    assert "'=1+1 <b>?" in [r["text"] for r in table]  # a formula is neutralised


def test_markdown_export_shows_markup_as_text(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    conv = chat(db, lic, LATE, HELLO + MARKUP)
    text = _export(db, [conv], "md", lang="en").decode()
    assert text.startswith("---\nAIGC: {")
    assert text.count("AIGC") == 1
    front = json.loads(text.split("\n")[1].removeprefix("AIGC: "))
    assert set(front) == AIGC_FIELDS
    assert text.count("**[内容由AI生成]**") == 2  # the label each answer was given
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\*\\*bold\\*\\*" in text


def test_exports_are_bounded_and_formats_checked(db: Database, make_tenant: MakeTenant) -> None:
    lic = make_tenant().licensee.id
    conv = chat(db, lic, LATE, HELLO)
    ts = db.read(lambda s: tr.transcripts(s, [conv]))
    with pytest.raises(InvalidInput):
        export_transcripts(ts, "pdf", export_id="e", propagator="p", lang="zh")
    with pytest.raises(InvalidInput):
        export_transcripts(
            ts * (MAX_CONVERSATIONS + 1), "json", export_id="e", propagator="p", lang="zh"
        )
