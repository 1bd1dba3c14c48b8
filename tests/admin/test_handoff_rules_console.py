"""The hand-off rules in the console and the JSON API: saved through one audited service,
refused with zh/en reasons (nothing stored), and in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from starlette.testclient import TestClient

from core.accounts import Role
from core.chat.handoff_rules import DEFAULT_PHRASES, Span, rules_for
from core.db.engine import Database
from core.db.tables import AuditEntry
from testkit.admin import admin_app, admin_settings, csrf_of, make_user, sign_in
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(db: Database, db_url: str) -> FastAPI:
    return admin_app(db, admin_settings(db_url))


def signed_in(app: FastAPI, db: Database, role: Role, licensee_id: str | None = None) -> TestClient:
    user = make_user(db, role, licensee_id=licensee_id)
    client = TestClient(app, follow_redirects=False)
    assert sign_in(client, user.email).status_code == 303
    client.headers["X-CSRF-Token"] = csrf_of(client.get("/admin/password").text)
    return client


@pytest.fixture
def owner(app: FastAPI, db: Database) -> Iterator[TestClient]:
    with signed_in(app, db, Role.OWNER) as client:
        yield client


def audited(db: Database) -> list[AuditEntry]:
    with db.read_session() as s:
        return list(
            s.exec(
                select(AuditEntry)
                .where(col(AuditEntry.action) == "licensee.handoff")
                .order_by(col(AuditEntry.id))
            ).all()
        )


GOOD = {
    "hours": "1-5 09:00-18:00\r\n\r\n6 10:00-16:00",
    "greeting": "  您好，我是人工客服  ",
    "phrases": "找客服\n  人工  \n",
    "grace": "120",
}


def test_the_owner_saves_the_rules_from_the_page(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    page = owner.get(f"/admin/licensees/{lic}/handoff")
    assert page.status_code == 200 and 'name="hours"' in page.text
    assert "转人工" in page.text and "人工客服" in page.text  # the defaults, shown
    assert f'href="/admin/licensees/{lic}/handoff"' in owner.get(f"/admin/licensees/{lic}").text
    saved = owner.post(f"/admin/licensees/{lic}/handoff", data=GOOD)  # offer unticked
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/licensees/{lic}/handoff?done=saved"
    rules = db.read(lambda s: rules_for(s, lic))
    assert rules.hours == (Span((1, 2, 3, 4, 5), "09:00", "18:00"), Span((6,), "10:00", "16:00"))
    assert rules.greeting == "您好，我是人工客服" and rules.phrases == ("找客服", "人工")
    assert rules.offer_on_dont_know is False and rules.grace_seconds == 120
    [entry] = audited(db)
    assert entry.licensee_id == lic and entry.actor_role == "owner"
    assert entry.before is not None and entry.before["phrases"] == list(DEFAULT_PHRASES)
    assert entry.after is not None and entry.after["phrases"] == ["找客服", "人工"]
    shown = owner.get(f"/admin/licensees/{lic}/handoff?done=saved&lang=en")
    assert "the running servers use the new rules now" in shown.text
    assert "1-5 09:00-18:00\n6 10:00-16:00" in shown.text
    # Saving the same again changes nothing and audits nothing; empty fields: the defaults.
    assert owner.post(f"/admin/licensees/{lic}/handoff", data=GOOD).status_code == 303
    assert len(audited(db)) == 1
    back = owner.post(f"/admin/licensees/{lic}/handoff", data={"grace": "60", "offer": "1"})
    assert back.status_code == 303
    rules = db.read(lambda s: rules_for(s, lic))
    assert rules.hours is None and rules.phrases == DEFAULT_PHRASES and rules.greeting == ""


BAD = [
    (
        {"hours": "weekdays 9-6"},
        "看不懂工作时间“weekdays 9-6”",
        'Cannot read the working hours "weekdays 9-6"',
    ),
    ({"hours": "1-5 18:00-09:00"}, "开始早于结束", "the start comes before the end"),
    (
        {"hours": "5-1 09:00-18:00"},
        "起始星期应不晚于结束星期",
        "the first day comes before the last",
    ),
    ({"phrases": "找客服\n？！"}, "转人工用语不能为空", "A hand-off phrase cannot be empty"),
    ({"phrases": "人" * 51}, "每个转人工用语最多 50 个字符", "at most 50 characters"),
    ({"greeting": "好" * 501}, "问候语最多 500 个字符", "The greeting is at most 500 characters"),
    ({"grace": "soon"}, "10 到 3600 秒的整数", "from 10 to 3600"),
    ({"grace": "5"}, "10 到 3600 秒的整数", "from 10 to 3600"),
]


@pytest.mark.parametrize(("form", "zh", "en"), BAD)
def test_bad_rules_are_explained_and_nothing_is_stored(
    db: Database, owner: TestClient, make_tenant: MakeTenant, form: dict[str, str], zh: str, en: str
) -> None:
    lic = make_tenant().licensee.id
    before = db.read(lambda s: rules_for(s, lic))
    for lang, words in (("zh", zh), ("en", en)):
        page = owner.post(
            f"/admin/licensees/{lic}/handoff?lang={lang}", data={"grace": "60", **form}
        )
        assert page.status_code == 400
        assert 'role="alert"' in page.text and words in page.text.replace("&#34;", '"'), page.text
        assert "Traceback" not in page.text
    assert db.read(lambda s: rules_for(s, lic)) == before
    assert audited(db) == []


def test_the_api_reads_changes_only_what_is_sent_and_explains_refusals(
    app: FastAPI, db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    url = f"/admin/api/licensees/{lic}/handoff"
    got = owner.get(url)
    assert got.status_code == 200
    assert got.json() == {
        "hours": None,
        "greeting": "",
        "phrases": list(DEFAULT_PHRASES),
        "offer_on_dont_know": True,
        "grace_seconds": 60,
    }
    hours = [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}]
    changed = owner.patch(url, json={"hours": hours, "greeting": "您好"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["hours"] == hours and changed.json()["phrases"] == list(DEFAULT_PHRASES)
    again = owner.patch(url, json={"offer_on_dont_know": False})
    assert again.json()["hours"] == hours and again.json()["greeting"] == "您好"
    assert again.json()["offer_on_dont_know"] is False
    assert len(audited(db)) == 2
    for body, code in (
        ({"hours": [{"days": [0], "start": "09:00", "end": "18:00"}]}, "days"),
        ({"hours": [{"days": [1], "start": "9:00", "end": "18:00"}]}, "times"),
        ({"phrases": ["找客服", ""]}, "phrase_empty"),
        ({"greeting": "x" * 501}, "greeting_long"),
        ({"grace_seconds": 4000}, "grace"),
    ):
        refused = owner.patch(url, json=body)
        assert refused.status_code == 400 and refused.json()["code"] == code, refused.text
        zh = owner.patch(url, json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert zh.json()["code"] == code and zh.json()["detail"] != refused.json()["detail"]
    assert len(audited(db)) == 2
    paths = app.openapi()["paths"]
    assert {"get", "patch"} <= paths["/admin/api/licensees/{licensee_id}/handoff"].keys()


def test_who_may_read_and_change_the_rules(
    app: FastAPI, db: Database, make_tenant: MakeTenant
) -> None:
    a = make_tenant("Shop A").licensee.id
    b = make_tenant("Shop B").licensee.id
    people = {
        "owner": signed_in(app, db, Role.OWNER),
        "billing": signed_in(app, db, Role.BILLING),
        "support": signed_in(app, db, Role.SUPPORT),
        "admin_a": signed_in(app, db, Role.ADMIN, a),
        "agent_a": signed_in(app, db, Role.AGENT, a),
    }
    # who: (page, API read, page save, API change) on licensee A
    expected = {
        "owner": (200, 200, 303, 200),
        "billing": (200, 200, 403, 403),
        "support": (200, 200, 403, 403),
        "admin_a": (200, 200, 303, 200),
        "agent_a": (403, 403, 403, 403),
    }
    for who, client in people.items():
        page = client.get(f"/admin/licensees/{a}/handoff")
        got = (
            page.status_code,
            client.get(f"/admin/api/licensees/{a}/handoff").status_code,
            client.post(f"/admin/licensees/{a}/handoff", data={"grace": "90"}).status_code,
            client.patch(
                f"/admin/api/licensees/{a}/handoff", json={"grace_seconds": 91}
            ).status_code,
        )
        assert got == expected[who], who
        if who in ("billing", "support"):
            assert '<button type="submit" class="primary">' not in page.text
            assert " disabled" in page.text
    assert people["admin_a"].get(f"/admin/licensees/{b}/handoff").status_code == 404
    assert db.read(lambda s: rules_for(s, b)).grace_seconds == 60
    for client in people.values():
        client.close()
