"""Who may do what: roles, read-only support, licensee scope, password changes, escaping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlmodel import select
from starlette.testclient import TestClient

from admin.deps import PrincipalDep, WriterDep, require, scoped_licensee
from core.accounts import Principal, Role
from core.db.engine import Database
from core.db.tables import AuditEntry, UserSession
from testkit.admin import PASSWORD, admin_app, admin_settings, csrf_of, make_user, sign_in
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.postgres

probe = APIRouter()


@probe.get("/admin/probe/billing")
def billing_page(
    principal: Annotated[Principal, Depends(require(Role.OWNER, Role.BILLING))],
) -> dict[str, str]:
    return {"role": principal.role.value}


@probe.post("/admin/probe/write")
def write(principal: WriterDep) -> dict[str, str]:
    return {"wrote": principal.role.value}


@probe.get("/admin/probe/licensees/{licensee_id}")
def licensee_page(principal: PrincipalDep, licensee_id: str) -> dict[str, str]:
    return {"licensee": scoped_licensee(principal, licensee_id)}


@pytest.fixture
def probed(db: Database, db_url: str) -> FastAPI:
    return admin_app(db, admin_settings(db_url), probe)


@pytest.fixture
def clients(probed: FastAPI) -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


def signed_in(app: FastAPI, made: list[TestClient], email: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    made.append(client)
    assert sign_in(client, email).status_code == 303
    return client, csrf_of(client.get("/admin/password").text)


def test_roles_writers_and_licensee_scope(
    db: Database, probed: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    shop_a = make_tenant("Shop A").licensee.id
    shop_b = make_tenant("Shop B").licensee.id
    people = {
        "owner": make_user(db, Role.OWNER),
        "billing": make_user(db, Role.BILLING),
        "support": make_user(db, Role.SUPPORT),
        "admin_a": make_user(db, Role.ADMIN, licensee_id=shop_a),
        "agent_a": make_user(db, Role.AGENT, licensee_id=shop_a),
    }
    expected = {
        # who: (billing page, write, A's page, B's page)
        "owner": (200, 200, 200, 200),
        "billing": (200, 200, 200, 200),
        "support": (403, 403, 200, 200),
        "admin_a": (403, 200, 200, 404),
        "agent_a": (403, 200, 200, 404),
    }
    for who, user in people.items():
        client, token = signed_in(probed, clients, user.email)
        got = (
            client.get("/admin/probe/billing").status_code,
            client.post("/admin/probe/write", headers={"X-CSRF-Token": token}).status_code,
            client.get(f"/admin/probe/licensees/{shop_a}").status_code,
            client.get(f"/admin/probe/licensees/{shop_b}").status_code,
        )
        assert got == expected[who], who


def test_a_password_change_signs_out_every_other_session(
    db: Database, probed: FastAPI, clients: list[TestClient]
) -> None:
    owner = make_user(db, Role.OWNER)
    here, token = signed_in(probed, clients, owner.email)
    elsewhere, _ = signed_in(probed, clients, owner.email)
    new = "a brand new password"
    changed = here.post(
        "/admin/password",
        data={"current": PASSWORD, "new": new, "confirm": new, "csrf_token": token},
    )
    assert changed.status_code == 200, changed.text
    assert "其他设备上的登录已全部退出" in changed.text
    assert here.get("/admin").status_code == 200  # this browser stays in
    assert elsewhere.get("/admin").status_code == 303  # the other is out
    with db.read_session() as session:
        assert len(session.exec(select(UserSession)).all()) == 1
        actions = session.exec(select(AuditEntry.action, AuditEntry.actor_id)).all()
        assert ("user.password_changed", owner.id) in actions
    fresh = TestClient(probed, follow_redirects=False)
    clients.append(fresh)
    assert sign_in(fresh, owner.email).status_code == 401  # the old password is gone
    assert sign_in(fresh, owner.email, new).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong password!", "a brand new password", "a brand new password", "当前密码不正确"),
        (PASSWORD, "short", "short", "密码至少 10 个字符"),
        (PASSWORD, "a brand new password", "another new password", "不一致"),
        (PASSWORD, PASSWORD, PASSWORD, "须与当前密码不同"),
    ],
)
def test_a_bad_password_change_is_explained(
    db: Database,
    probed: FastAPI,
    clients: list[TestClient],
    current: str,
    new: str,
    confirm: str,
    message: str,
) -> None:
    owner = make_user(db, Role.OWNER)
    client, token = signed_in(probed, clients, owner.email)
    response = client.post(
        "/admin/password",
        data={"current": current, "new": new, "confirm": confirm, "csrf_token": token},
    )
    assert response.status_code == 400
    assert message in response.text
    assert sign_in(TestClient(probed, follow_redirects=False), owner.email).status_code == 303


def test_markup_in_names_shows_as_text(
    db: Database, probed: FastAPI, clients: list[TestClient]
) -> None:
    owner = make_user(db, Role.OWNER, name='<script>alert("x")</script>')
    client, _ = signed_in(probed, clients, owner.email)
    home = client.get("/admin").text
    assert "<script>alert" not in home
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in home


def test_language_by_query_cookie_and_browser(
    db: Database, probed: FastAPI, clients: list[TestClient]
) -> None:
    client = TestClient(probed, follow_redirects=False)
    clients.append(client)
    assert "登录管理后台" in client.get("/admin/login").text  # Chinese first
    english = client.get("/admin/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Sign in to the console" in english.text
    chosen = client.get("/admin/login?lang=en")
    assert "kefu_lang=en" in chosen.headers["set-cookie"]
    assert "Sign in to the console" in client.get("/admin/login").text  # the cookie stays
    assert "登录管理后台" in client.get("/admin/login?lang=zh").text
