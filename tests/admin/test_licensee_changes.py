"""Licensee and operations changes through the console: each one is the core rule plus its
audit entry; short-notice maintenance needs a reason; tokens; exports neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.db.tables import AuditEntry, Conversation, KeyKind, Licensee
from core.ids import new_id
from core.types import utcnow
from testkit.admin import admin_app, admin_settings, csrf_of, make_user, sign_in
from testkit.tenants import ORIGIN, MakeTenant, key_id

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(db: Database, db_url: str) -> FastAPI:
    return admin_app(db, admin_settings(db_url))


@pytest.fixture
def owner(app: FastAPI, db: Database) -> Iterator[TestClient]:
    user = make_user(db, Role.OWNER)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, user.email).status_code == 303
        client.headers["X-CSRF-Token"] = csrf_of(client.get("/admin/password").text)
        yield client


def actions(db: Database) -> list[str]:
    with db.read_session() as s:
        return list(s.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def test_every_change_writes_its_audit_entry(db: Database, owner: TestClient) -> None:
    made = owner.post(
        "/admin/api/licensees",
        json={
            "name": "Tea House 茶馆",
            "origins": [ORIGIN],
            "unit_price": "0.45",
            "base_fee": "20000",
            "signed_on": "2026-12-01",
        },
    )
    assert made.status_code == 201, made.text
    body = made.json()
    lic = body["id"]
    assert body["secret_key"].startswith("sk_live_")
    assert (
        body["embed"]
        == f'<script src="http://testserver/widget.js?key={body["site_key"]}" async></script>'
    )
    live = key_id(db, lic, KeyKind.LIVE)
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("PATCH", f"/admin/api/licensees/{lic}", {"idle_timeout_minutes": 45}, "licensee.updated"),
        ("PATCH", f"/admin/api/licensees/{lic}", {"service_end": "2029-12-31"}, "licensee.renewed"),
        (
            "PUT",
            f"/admin/api/licensees/{lic}/prices",
            {"unit_price": "0.40", "effective_from": "2027-06-01"},
            "licensee.price_set",
        ),
        (
            "PUT",
            f"/admin/api/licensees/{lic}/billing",
            {"access_compensation_fee": "5000", "tax_id": "91310000MA1FL0000X"},
            "licensee.billing_updated",
        ),
        (
            "POST",
            f"/admin/api/licensees/{lic}/origins",
            {"origin": "https://m.example.com"},
            "origin.added",
        ),
        (
            "DELETE",
            f"/admin/api/licensees/{lic}/origins?origin=https://m.example.com",
            {},
            "origin.removed",
        ),
        ("POST", f"/admin/api/licensees/{lic}/keys", {"kind": "test"}, "key.created"),
        ("POST", f"/admin/api/licensees/{lic}/keys/{live}/rotate", {}, "key.rotated"),
        ("POST", f"/admin/api/licensees/{lic}/suspend", {}, "licensee.suspended"),
        ("POST", f"/admin/api/licensees/{lic}/resume", {}, "licensee.resumed"),
        (
            "PUT",
            f"/admin/api/licensees/{lic}/exception",
            {"reason": "已约定延期付款"},
            "licensee.exception_granted",
        ),
        ("DELETE", f"/admin/api/licensees/{lic}/exception", {}, "licensee.exception_cleared"),
        (
            "POST",
            f"/admin/api/licensees/{lic}/terminate",
            {"notice_date": "2026-12-06"},
            "licensee.terminated",
        ),
    ]
    for method, path, payload, action in steps:
        kw: dict[str, Any] = {"json": payload} if method != "DELETE" else {}
        response = owner.request(method, path, **kw)
        assert response.status_code in (200, 201), (path, response.text)
        assert actions(db)[-1] == action, path
    with db.read_session() as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.licensee_id == lic)).all()
        updated = next(e for e in entries if e.action == "licensee.updated")
    assert updated.before is not None and updated.after is not None
    assert (updated.before["idle_timeout_minutes"], updated.after["idle_timeout_minutes"]) == (
        30,
        45,
    )
    assert all(e.actor_role == "owner" and e.actor_id for e in entries)
    # Secrets never reach the log: the rotated secret keys appear by prefix only.
    assert body["secret_key"] not in str([(e.before, e.after) for e in entries])


def test_refused_changes_say_why_and_record_nothing(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    before = len(actions(db))
    for method, path, payload in [
        ("PATCH", f"/admin/api/licensees/{lic}", {"timezone": "Mars/Olympus"}),
        (
            "PUT",
            f"/admin/api/licensees/{lic}/prices",
            {"unit_price": "-1", "effective_from": "2027-01-01"},
        ),
        ("POST", f"/admin/api/licensees/{lic}/origins", {"origin": "javascript:alert(1)"}),
        ("PATCH", f"/admin/api/licensees/{lic}", {"service_end": "2020-01-01"}),
        ("PUT", f"/admin/api/licensees/{lic}/exception", {"reason": " "}),
    ]:
        response = owner.request(method, path, json=payload)
        assert response.status_code in (400, 422), (path, response.text)
        assert response.json()["detail"]
    assert len(actions(db)) == before
    page = owner.post(f"/admin/licensees/{lic}/origins", data={"origin": "not an origin"})
    assert page.status_code == 400
    assert 'class="error"' in page.text
    assert owner.get("/admin/api/licensees/lic_nope").status_code == 404


def test_maintenance_under_a_day_ahead_needs_a_reason(db: Database, owner: TestClient) -> None:
    soon = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    window = {
        "starts_at": soon.isoformat(),
        "ends_at": (soon + timedelta(hours=1)).isoformat(),
        "text": "紧急维护",
    }
    refused = owner.post("/admin/api/maintenance", json=window)
    assert refused.status_code == 400
    assert refused.json()["code"] == "maintenance.short_notice"
    assert "1 天" in refused.json()["detail"]  # in the reader's language (Chinese by default)
    assert (
        owner.post("/admin/api/maintenance", json={**window, "forced_reason": " "}).status_code
        == 400
    )
    forced = owner.post("/admin/api/maintenance", json={**window, "forced_reason": "security fix"})
    assert forced.status_code == 201, forced.text
    assert [w["id"] for w in owner.get("/admin/api/maintenance").json()] == [forced.json()["id"]]
    with db.read_session() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "maintenance.forced")).one()
    assert entry.after is not None and entry.after["forced_reason"] == "security fix"
    later = utcnow() + timedelta(days=2)
    planned = owner.post(
        "/admin/api/maintenance",
        json={"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()},
    )
    assert planned.status_code == 201
    assert actions(db)[-1] == "maintenance.announced"
    page = owner.get("/admin/operations")
    assert "紧急维护" in page.text


def test_outages_extend_service_and_are_logged(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee
    end = utcnow() - timedelta(hours=1)
    recorded = owner.post(
        "/admin/api/outages",
        json={
            "starts_at": (end - timedelta(hours=30)).isoformat(),
            "ends_at": end.isoformat(),
            "reason": "机房断电",
            "licensee_ids": [lic.id],
        },
    )
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["days_added"] == {lic.id: 1}
    with db.read_session() as s:
        after = s.get(Licensee, lic.id)
    assert after is not None and after.service_end == lic.service_end + timedelta(days=1)
    assert actions(db)[-1] == "outage.recorded"


def test_the_audit_export_neutralises_formulas(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    assert (
        owner.put(
            f"/admin/api/licensees/{lic}/billing", json={"invoice_title": '=HYPERLINK("http://x")'}
        ).status_code
        == 200
    )
    assert owner.patch(f"/admin/api/licensees/{lic}", json={"name": "@SUM(A1)"}).status_code == 200
    export = owner.get("/admin/audit.csv?action=licensee.")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == ["at", "actor", "role", "action", "target", "licensee", "before", "after"]
    assert [r[3] for r in rows[1:]] == ["licensee.billing_updated", "licensee.updated"]
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" \n").startswith(("=", "+", "-", "@")), cell
    assert "HYPERLINK" in rows[1][7] and "@SUM(A1)" in rows[2][7]


def test_api_tokens_are_scoped_shown_once_and_revocable(
    db: Database, app: FastAPI, make_tenant: MakeTenant
) -> None:
    mine = make_tenant("Mine").licensee.id
    theirs = make_tenant("Theirs").licensee.id
    admin = make_user(db, Role.ADMIN, licensee_id=mine)
    with TestClient(app, follow_redirects=False) as portal, TestClient(app) as api:
        assert sign_in(portal, admin.email).status_code == 303
        page = portal.get("/admin/tokens")
        created = portal.post(
            "/admin/tokens", data={"name": "ERP", "csrf_token": csrf_of(page.text)}
        )
        assert created.status_code == 200
        token = created.text.split('<pre class="snippet secret">')[1].split("<")[0]
        assert token.startswith("kat_")
        assert token not in portal.get("/admin/tokens").text  # shown once
        bearer = {"Authorization": f"Bearer {token}"}
        assert api.get(f"/admin/api/licensees/{mine}", headers=bearer).status_code == 200
        assert api.get(f"/admin/api/licensees/{theirs}", headers=bearer).status_code == 404
        # A token needs no CSRF token (no browser sends it by itself) ...
        added = api.post(
            f"/admin/api/licensees/{mine}/origins",
            headers=bearer,
            json={"origin": "https://m.shop.example"},
        )
        assert added.status_code == 201
        # ... and cannot make more tokens.
        assert api.post("/admin/api/tokens", headers=bearer, json={"name": "x"}).status_code == 403
        me = api.get("/admin/api/me", headers=bearer).json()
        assert (me["role"], me["licensee_id"]) == ("admin", mine)
        token_id = portal.get("/admin/api/tokens").json()[0]["id"]
        revoked = portal.delete(
            f"/admin/api/tokens/{token_id}", headers={"X-CSRF-Token": csrf_of(page.text)}
        )
        assert revoked.status_code == 200
        assert api.get(f"/admin/api/licensees/{mine}", headers=bearer).status_code == 401
        assert (
            api.get("/admin/api/me", headers={"Authorization": "Bearer kat_forged"}).status_code
            == 401
        )
    with db.read_session() as s:
        logged = s.exec(select(AuditEntry.action, AuditEntry.actor_email)).all()
    assert ("origin.added", "token:ERP") in logged
    assert {"token.created", "token.revoked"} <= {a for a, _ in logged}


def test_the_list_searches_and_counts_this_months_billable_units(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    tea = make_tenant("Tea House").licensee
    make_tenant("Book Shop")
    now = utcnow()
    live, test = key_id(db, tea.id, KeyKind.LIVE), key_id(db, tea.id, KeyKind.TEST)
    with db.session() as s:
        for i, (key, is_test, ago) in enumerate(
            [(live, False, 0), (live, False, 1), (test, True, 0), (live, False, 70)]
        ):
            started = now - timedelta(minutes=ago) if ago < 60 else now - timedelta(days=ago)
            s.add(
                Conversation(
                    id=new_id("cnv"),
                    licensee_id=tea.id,
                    visitor_id=f"v{i}",
                    key_id=key,
                    test=is_test,
                    started_at=started,
                    last_activity_at=started,
                    ended_at=started,
                )
            )
        s.commit()
    listing = owner.get("/admin/api/licensees?q=tea").json()
    assert [(r["name"], r["units"]) for r in listing["licensees"]] == [("Tea House", 2)]
    assert owner.get(f"/admin/api/licensees?q={tea.id}").json()["total"] == 1
    assert owner.get("/admin/api/licensees?status=suspended").json()["total"] == 0
    assert owner.get("/admin/api/licensees?status=bogus").status_code == 400
    page = owner.get("/admin/licensees?q=shop&lang=en")
    assert "Book Shop" in page.text and "Tea House" not in page.text


def test_every_licensee_page_shows_the_embed_snippet(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    page = owner.get(f"/admin/licensees/{tenant.licensee.id}")
    snippet = f"&lt;script src=&#34;http://testserver/widget.js?key={tenant.keys.site_key}&#34; async&gt;&lt;/script&gt;"
    assert snippet in page.text
    made = owner.post(
        "/admin/licensees",
        data={
            "name": "New <i>shop</i>",
            "origins": ORIGIN,
            "unit_price": "0.5",
            "timezone": "Asia/Shanghai",
        },
    )
    assert made.status_code == 201
    assert "widget.js?key=pk_live_" in made.text and "sk_live_" in made.text
    assert "New &lt;i&gt;shop&lt;/i&gt;" in made.text


def test_the_audit_page_shows_markup_and_chinese_as_text(
    db: Database, owner: TestClient, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    name = "<img src=x onerror=alert(1)> 茶馆"
    assert owner.patch(f"/admin/api/licensees/{lic}", json={"name": name}).status_code == 200
    page = owner.get("/admin/audit").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; 茶馆" in page


def test_refusals_on_pages_are_pages_and_on_the_api_json(
    db: Database, app: FastAPI, owner: TestClient
) -> None:
    missing = owner.get("/admin/licensees/lic_nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "找不到该页面" in missing.text
    assert owner.get("/admin/no-such-page?lang=en").text.count("Page not found.") == 1
    support = make_user(db, Role.SUPPORT)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, support.email)
        refused = client.get("/admin/licensees/new?lang=en")
        assert refused.status_code == 403
        assert "You are not allowed to do this." in refused.text
        api = client.get("/admin/api/licensees/lic_nope")
        assert api.status_code == 404
        # the reader chose English above (the kefu_lang cookie): a stable code and English words
        assert api.json() == {"detail": "No licensee lic_nope.", "code": "licensee.not_found"}


def test_a_licensee_admin_lands_on_its_own_overview(
    db: Database, app: FastAPI, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant("鲜花小铺")
    admin = make_user(db, Role.ADMIN, licensee_id=tenant.licensee.id)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, admin.email).headers["location"] == "/admin"
        home = client.get("/admin").text
        assert "鲜花小铺" in home and "本月用量" in home and "服务中" in home
        assert f'href="/admin/licensees/{tenant.licensee.id}"' in home
        assert client.get("/admin/licensees").headers["location"] == (
            f"/admin/licensees/{tenant.licensee.id}"
        )
