"""The users page and API: the owner manages everyone, a licensee's admin its own people."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlmodel import select
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.db.tables import AuditEntry, User
from testkit.admin import PASSWORD, admin_app, admin_settings, csrf_of, make_user, sign_in
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(db: Database, db_url: str) -> FastAPI:
    return admin_app(db, admin_settings(db_url))


@pytest.fixture
def clients(app: FastAPI) -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


def browser(app: FastAPI, made: list[TestClient], email: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    made.append(client)
    assert sign_in(client, email).status_code == 303
    client.headers["X-CSRF-Token"] = csrf_of(client.get("/admin/password").text)
    return client


def emails(db: Database) -> set[str]:
    with db.read_session() as s:
        return set(s.exec(select(User.email)).all())


def test_the_owner_adds_staff_who_can_sign_in(
    db: Database, app: FastAPI, clients: list[TestClient]
) -> None:
    owner = make_user(db, Role.OWNER)
    console = browser(app, clients, owner.email)
    made = console.post(
        "/admin/users",
        data={
            "email": "Money@Example.com",
            "password": PASSWORD,
            "role": "billing",
            "name": "会计",
        },
    )
    assert made.status_code == 303
    assert "money@example.com" in console.get("/admin/users").text
    fresh = TestClient(app, follow_redirects=False)
    clients.append(fresh)
    assert sign_in(fresh, "money@example.com").status_code == 303
    bad = console.post(
        "/admin/users", data={"email": "x@example.com", "password": "short", "role": "support"}
    )
    assert bad.status_code == 400 and 'class="error"' in bad.text
    with db.read_session() as s:
        assert s.exec(select(AuditEntry.action).where(AuditEntry.target != owner.id)).all() == [
            "user.created"
        ]


def test_a_licensee_admin_manages_only_its_own_people(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    mine, theirs = make_tenant("Mine").licensee.id, make_tenant("Theirs").licensee.id
    admin = make_user(db, Role.ADMIN, licensee_id=mine)
    stranger = make_user(db, Role.AGENT, licensee_id=theirs)
    owner = make_user(db, Role.OWNER)
    portal = browser(app, clients, admin.email)
    agent = portal.post(
        "/admin/api/users",
        json={
            "email": "agent@mine.example",
            "password": PASSWORD,
            "role": "agent",
            "licensee_id": theirs,
        },
    )  # the licensee named is ignored: always its own
    assert agent.status_code == 201, agent.text
    assert agent.json()["licensee_id"] == mine
    assert (
        portal.post(
            "/admin/api/users",
            json={"email": "boss2@example.com", "password": PASSWORD, "role": "owner"},
        ).status_code
        == 403
    )
    listed = {u["email"] for u in portal.get("/admin/api/users").json()}
    assert listed == {admin.email, "agent@mine.example"}
    before = emails(db)
    assert portal.delete(f"/admin/api/users/{stranger.id}").status_code == 404
    assert portal.post(f"/admin/users/{owner.id}/remove").status_code == 404
    assert emails(db) == before
    # Removing its agent ends the agent's sessions at once.
    signed = browser(app, clients, "agent@mine.example")
    assert signed.get("/admin/password").status_code == 200
    assert portal.delete(f"/admin/api/users/{agent.json()['id']}").status_code == 200
    assert signed.get("/admin/password").status_code == 303
    assert "agent@mine.example" not in emails(db)


def test_nobody_removes_themselves_or_the_last_owner(
    db: Database, app: FastAPI, clients: list[TestClient]
) -> None:
    owner = make_user(db, Role.OWNER)
    console = browser(app, clients, owner.email)
    refused = console.post(f"/admin/users/{owner.id}/remove")
    assert refused.status_code == 400
    assert "不能删除自己" in refused.text
    second = make_user(db, Role.OWNER)
    other = browser(app, clients, second.email)
    assert other.delete(f"/admin/api/users/{owner.id}").status_code == 200
    # second is now the last owner; support cannot even see the page.
    support = make_user(db, Role.SUPPORT)
    reader = browser(app, clients, support.email)
    assert reader.get("/admin/users").status_code == 403
    assert reader.delete(f"/admin/api/users/{second.id}").status_code == 403
    assert second.email in emails(db)
