"""The knowledge-base and robot pages and their JSON API call the same audited actions
(``admin/services/kb.py``, ``admin/services/robot.py``): the same steps, one licensee through
the pages and another through the API, leave the same changes and the same audit rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.db.tables import AuditEntry
from core.knowledge.store import load_entries
from testkit.admin import Browser, csrf_of, make_user, sign_in
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.postgres

CSV = "question,answer,similar\n几点发货？,下午四点前下单当天发。,什么时候发货\n".encode()


def _admin(db: Database, browser: Browser, lic: str) -> TestClient:
    client = browser()
    user = make_user(db, Role.ADMIN, licensee_id=lic)
    assert sign_in(client, user.email).status_code == 303
    client.headers["X-CSRF-Token"] = csrf_of(client.get("/admin/password").text)
    return client


def _only_entry(db: Database, lic: str, question: str) -> str:
    return next(e.id for e in db.read(lambda s: load_entries(s, lic)) if e.question == question)


def _through_pages(client: TestClient, db: Database, lic: str) -> None:
    base = f"/admin/kb/{lic}"
    form = {
        "question": "如何退款？",
        "answer": "在订单页申请。",
        "similar": "怎么退钱",
        "tags": "售后",
    }
    assert client.post(f"{base}/new", data=form).status_code == 303
    entry = _only_entry(db, lic, "如何退款？")
    edited = {**form, "answer": "在订单页点“申请退款”。"}
    assert client.post(f"{base}/entries/{entry}", data=edited).status_code == 303
    assert client.post(f"{base}/entries/{entry}", data=edited).status_code == 303  # no change
    taught = {"phrasing": "退款怎么弄", "entry_id": entry}
    assert client.post(f"{base}/unanswered/teach", data=taught).status_code == 303
    upload = {"file": ("faq.csv", CSV, "text/csv")}
    assert client.post(f"{base}/import", files=upload).status_code == 200
    look = {"title": "小助手", "greeting": "您好", "color": "#0a7", "position": "left"}
    assert client.post(f"{base}/robot/look", data=look).status_code == 303
    model = {
        "provider": "openai",
        "base_url": "https://llm.example.com/v1",
        "model": "m-1",
        "api_key": "sk-test",
    }
    assert client.post(f"{base}/robot/models/1", data=model).status_code == 303
    assert client.post(f"{base}/robot/models/1/clear").status_code == 303
    assert client.post(f"{base}/entries/{entry}/delete").status_code == 303


def _through_the_api(client: TestClient, db: Database, lic: str) -> None:
    api = f"/admin/api/kb/{lic}"
    body: dict[str, Any] = {
        "question": "如何退款？",
        "answer": "在订单页申请。",
        "similar": ["怎么退钱"],
        "tags": ["售后"],
    }
    made = client.post(f"{api}/entries", json=body)
    assert made.status_code == 201, made.text
    entry = made.json()["id"]
    edited = {**body, "answer": "在订单页点“申请退款”。"}
    assert client.put(f"{api}/entries/{entry}", json=edited).status_code == 200
    assert client.put(f"{api}/entries/{entry}", json=edited).status_code == 200
    taught = client.post(f"{api}/entries/{entry}/similar", json={"phrasing": "退款怎么弄"})
    assert taught.status_code == 200
    assert client.post(f"{api}/import?format=csv", content=CSV).status_code == 200
    look = {"title": "小助手", "greeting": "您好", "color": "#0a7", "position": "left"}
    assert client.put(f"{api}/robot/look", json=look).status_code == 200
    model = {
        "provider": "openai",
        "base_url": "https://llm.example.com/v1",
        "model": "m-1",
        "api_key": "sk-test",
    }
    assert client.put(f"{api}/robot/models/1", json=model).status_code == 200
    assert client.delete(f"{api}/robot/models/1").status_code == 200
    assert client.delete(f"{api}/entries/{entry}").status_code == 200


def _rows(db: Database, lic: str, name: str) -> list[tuple[Any, ...]]:
    """The licensee's audit rows with what must differ between two licensees taken out: ids,
    names, times, who (two people) and how the file was named (a file name, a format)."""
    entries = {e.id: "entry" for e in db.read(lambda s: load_entries(s, lic))}
    with db.read_session() as s:
        rows = s.exec(
            select(AuditEntry).where(AuditEntry.licensee_id == lic).order_by(col(AuditEntry.id))
        ).all()
    found = []
    for row in rows:
        text = json.dumps([row.target, row.before, row.after], ensure_ascii=False, sort_keys=True)
        text = text.replace(lic, "LIC").replace(name, "NAME")
        for entry_id in {row.target, *entries}:
            if entry_id.startswith("kb_"):
                text = text.replace(entry_id, "ENTRY")
        target, before, after = json.loads(text)
        for side in (before, after):
            if isinstance(side, dict):
                side.pop("file", None)
                side.pop("format", None)
                side.pop("updated_at", None)
                side.pop("created_at", None)
        found.append((row.action, row.actor_role, target, before, after))
    return found


def test_pages_and_api_write_the_same_changes_and_audit_rows(
    db: Database, browser: Browser, make_tenant: MakeTenant
) -> None:
    a, b = make_tenant("Shop A").licensee.id, make_tenant("Shop B").licensee.id
    _through_pages(_admin(db, browser, a), db, a)
    _through_the_api(_admin(db, browser, b), db, b)
    pages, api = _rows(db, a, "Shop A"), _rows(db, b, "Shop B")
    assert [r[0] for r in pages] == [
        "kb.entry.add",
        "kb.entry.edit",
        "kb.entry.teach",
        "kb.import",
        "robot.look",
        "robot.model.set",
        "robot.model.clear",
        "kb.entry.delete",
    ]
    assert pages == api
    same = [(e.question, e.answer, e.similar) for e in db.read(lambda s: load_entries(s, a))]
    assert same == [
        (e.question, e.answer, e.similar) for e in db.read(lambda s: load_entries(s, b))
    ]
