"""The knowledge-base, robot and conversation pages and their JSON API: scope, roles, escaping,
imports that are all or nothing, exports that carry their labels, the hit test and the
unanswered questions taught back into the knowledge base."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import col, select
from starlette.testclient import TestClient

from bot.chat.hit_test import hit_tester
from bot.chat.services import build_services
from core.accounts import Role
from core.db.engine import Database
from core.db.tables import AuditEntry, KbEntryRecord, Licensee, LicenseeModel
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows, load_entries
from core.types import utcnow
from testkit.admin import admin_app, admin_settings, csrf_of, make_user, sign_in
from testkit.conversations import Exchange, chat
from testkit.servers import settings_for
from testkit.tenants import MakeTenant

SCRIPT = "<script>alert(1)</script>"
FAQ = [
    KbRow("如何退款？", "在订单页点“申请退款”。", ("怎么退钱",)),
    KbRow("营业时间是几点？", f"每天 9:00 至 18:00。{SCRIPT}", ("几点上班",)),
]


@dataclass
class World:
    app: FastAPI
    db: Database
    a: str  # licensee A
    b: str  # licensee B
    entry: str  # one of A's entries
    conversation: str  # one of A's conversations
    clients: list[TestClient]

    def client(self, role: Role, licensee_id: str | None = None) -> tuple[TestClient, str]:
        user = make_user(self.db, role, licensee_id=licensee_id)
        client = TestClient(self.app, follow_redirects=False)
        self.clients.append(client)
        assert sign_in(client, user.email).status_code == 303
        return client, csrf_of(client.get("/admin/password").text)


@pytest.fixture
def world(db: Database, db_url: str, make_tenant: MakeTenant) -> Iterator[World]:
    a, b = make_tenant("Shop A").licensee.id, make_tenant("Shop B").licensee.id
    with db.session() as s:
        import_rows(s, a, FAQ, utcnow())
        import_rows(s, b, [KbRow("B 的问题", "B 的答案")], utcnow())
        s.commit()
    entry = db.read(lambda s: load_entries(s, a))[0].id
    now = utcnow() - timedelta(hours=2)
    conversation = chat(
        db,
        a,
        now,
        [
            Exchange("怎么退钱", FAQ[0].answer, sources=[(entry, FAQ[0].question)]),
            Exchange(f"能开发票吗{SCRIPT}", "抱歉，这个问题我暂时回答不了。", resolved=False),
        ],
        rating=2,
    )
    chat(db, b, now, [Exchange("B 问", "B 答")])
    services = build_services(settings_for(db_url), db)
    app = admin_app(db, admin_settings(db_url), hit_test=hit_tester(services))
    made: list[TestClient] = []
    yield World(app, db, a, b, entry, conversation, made)
    for client in made:
        client.close()


def snapshot(db: Database) -> tuple[Any, ...]:
    with db.read_session() as s:
        entries = sorted(
            (r.id, r.question, r.answer, tuple(r.similar)) for r in s.exec(select(KbEntryRecord))
        )
        versions = sorted(
            (r.id, r.kb_version, r.title, r.theme_color) for r in s.exec(select(Licensee))
        )
        models = len(s.exec(select(LicenseeModel)).all())
    return entries, versions, models


def routes(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every knowledge-base, robot and conversation route, with licensee A's ids."""
    kb, e, c = f"/admin/kb/{w.a}", w.entry, w.conversation
    api = f"/admin/api/kb/{w.a}"
    entry_form = {"question": "Q?", "answer": "A."}
    return [
        ("GET", kb, {}),
        ("GET", f"{kb}/new", {}),
        ("POST", f"{kb}/new", {"data": entry_form}),
        ("GET", f"{kb}/entries/{e}", {}),
        ("POST", f"{kb}/entries/{e}", {"data": entry_form}),
        ("POST", f"{kb}/entries/{e}/delete", {"data": {}}),
        ("GET", f"{kb}/import", {}),
        (
            "POST",
            f"{kb}/import",
            {"files": {"file": ("kb.json", b'[{"question":"x","answer":"y"}]')}},
        ),
        ("GET", f"{kb}/export.csv", {}),
        ("GET", f"{kb}/hit-test?q=退款", {}),
        ("GET", f"{kb}/unanswered", {}),
        ("POST", f"{kb}/unanswered/teach", {"data": {"phrasing": "x", "entry_id": e}}),
        ("GET", f"{kb}/robot", {}),
        (
            "POST",
            f"{kb}/robot/models/1",
            {"data": {"provider": "openai", "base_url": "https://m.example.com/v1", "model": "m"}},
        ),
        ("POST", f"{kb}/robot/models/1/clear", {"data": {}}),
        (
            "POST",
            f"{kb}/robot/look",
            {"data": {"title": "X", "greeting": "", "color": "#000000", "position": "left"}},
        ),
        ("GET", f"{kb}/robot/preview", {}),
        ("GET", f"/admin/conversations?licensee={w.a}", {}),
        ("GET", f"/admin/conversations/{c}", {}),
        ("GET", f"/admin/conversations/{c}/export.json", {}),
        ("GET", f"/admin/conversations/export.csv?licensee={w.a}", {}),
        ("GET", f"{api}/entries", {}),
        ("POST", f"{api}/entries", {"json": entry_form}),
        ("GET", f"{api}/entries/{e}", {}),
        ("PUT", f"{api}/entries/{e}", {"json": entry_form}),
        ("DELETE", f"{api}/entries/{e}", {}),
        ("POST", f"{api}/entries/{e}/similar", {"json": {"phrasing": "x"}}),
        ("POST", f"{api}/hit-test", {"json": {"question": "退款"}}),
        ("GET", f"{api}/unanswered", {}),
        ("POST", f"{api}/import?format=json", {"content": b'[{"question":"x","answer":"y"}]'}),
        ("GET", f"{api}/export?format=csv", {}),
        ("GET", f"{api}/robot", {}),
        (
            "PUT",
            f"{api}/robot/models/1",
            {"json": {"provider": "openai", "base_url": "https://m.example.com/v1", "model": "m"}},
        ),
        ("DELETE", f"{api}/robot/models/1", {}),
        (
            "PUT",
            f"{api}/robot/look",
            {"json": {"title": "X", "greeting": "", "color": "#000000", "position": "left"}},
        ),
        ("GET", f"/admin/api/conversations?licensee={w.a}", {}),
        ("GET", f"/admin/api/conversations/{c}", {}),
    ]


def call(client: TestClient, csrf: str, method: str, path: str, kw: dict[str, Any]) -> Any:
    kw = dict(kw)
    if method != "GET":
        if "data" in kw or "files" in kw:
            kw["data"] = {**kw.get("data", {}), "csrf_token": csrf}
        else:
            kw["headers"] = {"X-CSRF-Token": csrf}
    return client.request(method, path, **kw)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT])
def test_another_licensees_users_get_404_and_change_nothing(world: World, role: Role) -> None:
    client, csrf = world.client(role, world.b)
    before = snapshot(world.db)
    for method, path, kw in routes(world):
        response = call(client, csrf, method, path, kw)
        # Agents are not let in at all; a licensee admin is told A's things do not exist.
        expected = 403 if role == Role.AGENT else 404
        assert response.status_code == expected, (method, path, response.text[:200])
    assert snapshot(world.db) == before


def test_support_reads_everything_and_writes_nothing(world: World) -> None:
    client, csrf = world.client(Role.SUPPORT)
    before = snapshot(world.db)
    for method, path, kw in routes(world):
        response = call(client, csrf, method, path, kw)
        # Reading includes the hit test (a question, no change); the new-entry form is writing.
        if (method == "GET" and not path.endswith("/new")) or path.endswith("/hit-test"):
            assert response.status_code == 200, (method, path, response.text[:200])
        else:
            assert response.status_code == 403, (method, path, response.text[:200])
    assert snapshot(world.db) == before


def test_the_licensee_admin_works_on_its_own_knowledge_base(world: World) -> None:
    client, csrf = world.client(Role.ADMIN, world.a)
    assert client.get("/admin/kb").headers["location"] == f"/admin/kb/{world.a}"
    base = f"/admin/kb/{world.a}"
    made = client.post(
        f"{base}/new",
        data={
            "csrf_token": csrf,
            "question": "怎么开发票？",
            "answer": "在订单页申请。",
            "answer_en": "Ask on the order page.",
            "similar": "能开发票吗\n可以开票吗",
            "tags": "发票, 售后",
        },
    )
    assert made.status_code == 303, made.text
    entries = {e.question: e for e in world.db.read(lambda s: load_entries(s, world.a))}
    new = entries["怎么开发票？"]
    assert new.similar == ("能开发票吗", "可以开票吗") and new.tags == ("发票", "售后")
    # The same question again is refused with the form kept.
    again = client.post(
        f"{base}/new", data={"csrf_token": csrf, "question": "怎么开发票?", "answer": "x"}
    )
    assert again.status_code == 400 and "已存在" in again.text
    bad = client.post(
        f"{base}/entries/{new.id}", data={"csrf_token": csrf, "question": "", "answer": ""}
    )
    assert bad.status_code == 400 and "缺少标准问题；缺少答案" in bad.text
    edited = client.post(
        f"{base}/entries/{new.id}",
        data={"csrf_token": csrf, "question": "怎么开发票？", "answer": "联系客服开票。"},
    )
    assert edited.status_code == 303
    listing = client.get(f"{base}?q=开票")
    assert "联系客服开票。" in listing.text and "营业时间" not in listing.text
    assert (
        client.post(f"{base}/entries/{new.id}/delete", data={"csrf_token": csrf}).status_code == 303
    )
    assert "怎么开发票？" not in {
        e.question for e in world.db.read(lambda s: load_entries(s, world.a))
    }
    with world.db.read_session() as s:
        actions = [a.action for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.at)))]
    assert actions[-3:] == ["kb.entry.add", "kb.entry.edit", "kb.entry.delete"]
    # No CSRF token: refused.
    assert client.post(f"{base}/new", data={"question": "Q", "answer": "A"}).status_code == 403


def test_markup_in_answers_and_messages_shows_as_text(world: World) -> None:
    client, _ = world.client(Role.OWNER)
    for path in (
        f"/admin/kb/{world.a}",
        f"/admin/kb/{world.a}/entries/{next(e.id for e in world.db.read(lambda s: load_entries(s, world.a)) if SCRIPT in e.answer)}",
        f"/admin/conversations/{world.conversation}",
        f"/admin/kb/{world.a}/unanswered",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, (
            path
        )


def test_import_is_all_or_nothing_and_export_round_trips(world: World) -> None:
    client, csrf = world.client(Role.OWNER)
    base = f"/admin/kb/{world.a}"
    before = snapshot(world.db)
    for name, data, says in [
        ("kb.xlsx", b"not a zip", "Cannot read the file"),
        ("kb.json", b'[{"question": "Q", "answer": ', "Cannot read the file"),
        ("kb.txt", b"question,answer\nq,a\n", "Unsupported"),
        (
            "kb.csv",
            b"question,answer,similar\nok,fine,\nno answer,,\n",
            "nothing was imported",
        ),
    ]:
        page = client.post(
            f"{base}/import?lang=en", data={"csrf_token": csrf}, files={"file": (name, data)}
        )
        assert page.status_code == 400 and says in page.text, (name, page.text[-500:])
    assert snapshot(world.db) == before
    exported = client.get(f"{base}/export.xlsx")
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None and sheet.max_row == 1 + len(FAQ)
    # The file with one row replaced becomes the whole knowledge base.
    csv_text = "question,answer,similar\n如何退款？,联系客服。,怎么退钱\n"
    done = client.post(
        f"{base}/import?lang=en",
        data={"csrf_token": csrf, "replace": "on"},
        files={"file": ("kb.csv", csv_text.encode("utf-8"))},
    )
    assert done.status_code == 200 and "deleted 1." in done.text
    assert [e.answer for e in world.db.read(lambda s: load_entries(s, world.a))] == ["联系客服。"]
    csv_out = client.get(f"{base}/export.csv").content
    assert csv_out.startswith(b"\xef\xbb\xbf") and "联系客服。".encode() in csv_out
    assert json.loads(client.get(f"{base}/export.json").content)[0]["question"] == "如何退款？"


def test_hit_test_page_and_teaching_an_unanswered_question(world: World) -> None:
    client, csrf = world.client(Role.ADMIN, world.a)
    base = f"/admin/kb/{world.a}"
    known = client.get(f"{base}/hit-test", params={"q": "怎么退钱呀"})
    assert known.status_code == 200
    assert 'id="answer-entry"' in known.text and "如何退款？" in known.text
    assert 'id="threshold"' in known.text and FAQ[0].answer in known.text
    unknown = client.get(f"{base}/hit-test", params={"q": "能开发票吗"})
    assert 'id="dont-know"' in unknown.text
    listed = client.get(f"{base}/unanswered")
    assert "能开发票吗" in listed.text
    api = client.get(f"/admin/api/kb/{world.a}/unanswered").json()
    question = api[0]["text"]
    assert question.startswith("能开发票吗") and api[0]["reasons"] == ["dont_know", "low_rating"]
    refund = next(
        e for e in world.db.read(lambda s: load_entries(s, world.a)) if e.question == "如何退款？"
    )
    taught = client.post(
        f"{base}/unanswered/teach",
        data={"csrf_token": csrf, "phrasing": question, "entry_id": refund.id},
    )
    assert taught.status_code == 303
    assert question not in client.get(f"{base}/unanswered").text
    answered = client.post(
        f"/admin/api/kb/{world.a}/hit-test",
        json={"question": question, "locale": "zh-CN"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert answered["answer_entry_id"] == refund.id and answered["answer"] == refund.answer


def test_robot_models_and_look(world: World) -> None:
    client, csrf = world.client(Role.OWNER)
    base = f"/admin/kb/{world.a}/robot"
    bad = client.post(
        f"{base}/models/1",
        data={"csrf_token": csrf, "provider": "openai", "base_url": "ftp://x", "model": "m"},
    )
    assert bad.status_code == 400 and "接口地址" in bad.text
    good = client.post(
        f"{base}/models/1",
        data={
            "csrf_token": csrf,
            "provider": "openai",
            "base_url": "https://m.example.com/v1",
            "model": "qwen-plus",
            "api_key": "sk-secret-1",
        },
    )
    assert good.status_code == 303
    page = client.get(base)
    assert "qwen-plus" in page.text and "sk-secret-1" not in page.text
    assert (
        client.post(
            f"{base}/look",
            data={
                "csrf_token": csrf,
                "title": "小助手",
                "greeting": "",
                "color": "red",
                "position": "left",
            },
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"{base}/look",
            data={
                "csrf_token": csrf,
                "title": "小助手",
                "greeting": "欢迎",
                "color": "#10b981",
                "position": "left",
            },
        ).status_code
        == 303
    )
    preview = client.get(
        f"{base}/preview", params={"color": "#ff0000", "title": "试试", "position": "right"}
    )
    assert preview.status_code == 200 and "#ff0000" in preview.text and "试试" in preview.text
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    saved = client.get(f"{base}/preview")
    assert "#10b981" in saved.text and "小助手" in saved.text and "内容由AI生成" in saved.text
    hostile = client.get(f"{base}/preview", params={"color": "red;}</style><script>"})
    assert "<script>" not in hostile.text and "#10b981" in hostile.text


def test_conversation_search_transcript_and_labelled_exports(world: World) -> None:
    client, _ = world.client(Role.OWNER)
    found = client.get("/admin/conversations", params={"licensee": world.a, "rating": "low"})
    assert world.conversation in found.text
    none = client.get("/admin/conversations", params={"licensee": world.a, "rating": "high"})
    assert world.conversation not in none.text
    assert client.get("/admin/conversations", params={"start": "2026-13-01"}).status_code == 400
    page = client.get(f"/admin/conversations/{world.conversation}")
    assert page.text.count('class="ai-label"') == 2 and "内容由AI生成" in page.text
    assert "如何退款？" in page.text  # the source of the first answer
    one = client.get(f"/admin/conversations/{world.conversation}/export.json").json()
    assert one["AIGC"]["Label"] == "1" and json.dumps(one).count('"AIGC"') == 1
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"/admin/conversations/export.csv?licensee={world.a}").content.decode(
                    "utf-8-sig"
                )
            )
        )
    )
    assert json.loads(rows[0][0])["AIGC"]["ContentProducer"]
    table = [dict(zip(rows[1], r, strict=True)) for r in rows[2:]]
    assert {r["ai_label"] for r in table if r["role"] == "robot"} == {"内容由AI生成"}
    md = client.get(f"/admin/conversations/{world.conversation}/export.md").text
    assert md.count("AIGC") == 1 and md.count("[内容由AI生成]") == 2 and "<script>" not in md
    api = client.get("/admin/api/conversations", params={"licensee": world.a}).json()
    assert [c["id"] for c in api["conversations"]] == [world.conversation]
    transcript = client.get(f"/admin/api/conversations/{world.conversation}").json()
    assert [i["role"] for i in transcript["history"]] == ["visitor", "robot", "visitor", "robot"]
    assert transcript["history"][3]["resolved"] is False


def test_the_api_is_in_the_openapi_document(world: World) -> None:
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title="t", version="1", routes=world.app.routes)
    paths = set(doc["paths"])
    assert {
        "/admin/api/kb/{licensee_id}/entries",
        "/admin/api/kb/{licensee_id}/entries/{entry_id}",
        "/admin/api/kb/{licensee_id}/hit-test",
        "/admin/api/kb/{licensee_id}/unanswered",
        "/admin/api/conversations",
        "/admin/api/conversations/{conversation_id}",
    } <= paths
    assert not any(p.startswith("/admin/kb") for p in paths)  # pages stay out of it
    schemas = doc["components"]["schemas"]
    assert {"Entry", "EntryPage", "HitTestOut", "TranscriptOut", "ConversationPageOut"} <= set(
        schemas
    )


_ = (UTC, datetime)


def test_every_word_the_pages_build_from_a_value_exists() -> None:
    """The keys the templates compose (``"conv.reason." ~ reason``...), which the template
    scanner cannot see, exist for every value they can be composed from."""
    from admin.i18n import catalogue
    from core.chat.frames import EndReason
    from core.chat.frames import Role as ChatRole
    from core.chat.unanswered import Reason
    from core.licensing.model_chain import SLOTS

    keys = (
        [f"conv.reason.{r.value}" for r in EndReason]
        + [f"conv.role.{r.value}" for r in ChatRole]
        + [f"conv.rating.{r}" for r in ("low", "high")]
        + [f"kb.slot.{s}" for s in SLOTS]
        + [f"kb.reason.{r}" for r in (Reason.DONT_KNOW, Reason.LOW_RATING)]
        + [f"kb.tab.{t}" for t in ("entries", "import", "hit_test", "unanswered", "robot")]
    )
    assert [k for k in keys if k not in catalogue()] == []


def test_the_api_imports_exports_and_sets_the_robot(world: World) -> None:
    client, csrf = world.client(Role.ADMIN, world.a)
    api = f"/admin/api/kb/{world.a}"
    writes = {"X-CSRF-Token": csrf}
    before = snapshot(world.db)
    broken = client.post(f"{api}/import?format=json", content=b"[{", headers=writes)
    assert broken.status_code == 400 and broken.json()["code"] == "kb.file.json_invalid"
    assert "不是有效的 JSON" in broken.json()["detail"]
    bad = client.post(
        f"{api}/import?format=json",
        content=json.dumps([{"question": "Q1", "answer": "A1"}, {"question": "Q2"}]).encode(),
        headers=writes,
    )
    assert bad.status_code == 422
    assert bad.json() == {
        "imported": False,
        "added": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "rejected": [{"line": 2, "reason": "缺少答案", "codes": ["kb.row.missing"]}],
    }
    assert snapshot(world.db) == before
    done = client.post(
        f"{api}/import?format=json&replace=true",
        content=json.dumps([{"question": "Q1", "answer": "A1"}]).encode(),
        headers=writes,
    )
    assert done.status_code == 200
    assert (done.json()["added"], done.json()["deleted"]) == (1, len(FAQ))
    exported = client.get(f"{api}/export?format=json")
    assert json.loads(exported.content) == [
        {"question": "Q1", "answer": "A1", "similar": [], "tags": []}
    ]
    assert client.get(f"{api}/robot").json()["models"] == []
    refused = client.put(
        f"{api}/robot/models/1",
        json={"provider": "openai", "base_url": "http://[::1", "model": "m"},
        headers=writes,
    )
    assert refused.status_code == 400
    robot = client.put(
        f"{api}/robot/models/2",
        json={
            "provider": "ollama",
            "base_url": "http://127.0.0.1:11434",
            "model": "qwen2.5",
            "api_key": "k-1",
        },
        headers=writes,
    ).json()
    assert robot["models"][0]["slot"] == 2 and robot["models"][0]["api_key"] == "set"
    assert "k-1" not in json.dumps(robot)
    look = client.put(
        f"{api}/robot/look",
        json={"title": "助手", "greeting": "你好", "color": "#ABCDEF", "position": "left"},
        headers=writes,
    ).json()["look"]
    assert look == {"title": "助手", "greeting": "你好", "color": "#abcdef", "position": "left"}
    cleared = client.delete(f"{api}/robot/models/2", headers=writes).json()
    assert cleared["models"] == []
