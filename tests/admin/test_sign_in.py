"""Signing in to the console: the form, its cookies, lock-out, CSRF, redirects, sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from core.accounts import SESSION_COOKIE, Role
from core.db.engine import Database
from core.db.tables import AuditEntry, User, UserSession
from core.types import utcnow
from testkit.admin import PASSWORD, Browser, admin_app, admin_settings, csrf_of, make_user, sign_in

pytestmark = pytest.mark.postgres


def set_cookie_headers(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined, no-any-return]


def session_cookie(response: object) -> str:
    found = [c for c in set_cookie_headers(response) if c.startswith(f"{SESSION_COOKIE}=")]
    assert len(found) == 1, set_cookie_headers(response)
    return found[0]


def test_the_form_has_the_protocol_fields(browser: Browser) -> None:
    page = browser().get("/admin/login")
    assert page.status_code == 200
    for field in ('name="email"', 'name="password"', 'type="hidden" name="csrf_token"'):
        assert field in page.text
    assert csrf_of(page.text)
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_good_password_signs_in_with_safe_cookie_flags(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    client = browser()
    response = sign_in(client, owner.email.upper())  # the email is case-insensitive
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    home = client.get("/admin")
    assert home.status_code == 200
    assert owner.email in home.text


def test_the_cookie_is_secure_over_https(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    response = sign_in(browser("https://testserver"), owner.email)
    assert response.status_code == 303
    assert "; secure" in session_cookie(response).lower()


def test_a_wrong_password_or_unknown_email_is_refused(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    client = browser()
    for email, password in ((owner.email, "wrong password!"), ("nobody@example.com", PASSWORD)):
        response = sign_in(client, email, password)
        assert response.status_code == 401
        assert "邮箱或密码错误" in response.text
        assert not any(c.startswith(SESSION_COOKIE) for c in set_cookie_headers(response))
    assert client.get("/admin").status_code == 303


def test_five_failures_lock_the_account_for_15_minutes(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    client = browser()
    for _ in range(4):
        assert sign_in(client, owner.email, "wrong password!").status_code == 401
    fifth = sign_in(client, owner.email, "wrong password!")
    assert "15" in fifth.text  # the lock-out message
    locked = sign_in(client, owner.email)  # the right password, while locked
    assert locked.status_code == 401
    assert "锁定" in locked.text
    with db.read_session() as session:
        user = session.get(User, owner.id)
        assert user is not None and user.locked_until is not None
        remaining = user.locked_until - utcnow()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "user.locked")).all()
        assert [e.target for e in entries] == [owner.id]
    with db.session() as session:  # 15 minutes later
        user = session.get(User, owner.id)
        assert user is not None
        user.locked_until = utcnow() - timedelta(seconds=1)
        session.add(user)
        session.commit()
    assert sign_in(client, owner.email).status_code == 303


def test_one_address_is_rate_limited_across_accounts(db: Database, db_url: str) -> None:
    app = admin_app(db, admin_settings(db_url, rate_address_logins="3/min"))
    with TestClient(app, follow_redirects=False) as client:
        codes = [
            sign_in(client, f"x{i}@example.com", "wrong password!").status_code for i in range(4)
        ]
    assert codes == [401, 401, 401, 429]


def test_unsafe_requests_without_the_csrf_token_are_refused(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    client = browser()
    no_token = client.post("/admin/login", data={"email": owner.email, "password": PASSWORD})
    assert no_token.status_code == 403
    client.get("/admin/login")  # the pre-session cookie, but a token made up
    forged = client.post(
        "/admin/login",
        data={"email": owner.email, "password": PASSWORD, "csrf_token": "x" * 32},
    )
    assert forged.status_code == 403
    assert sign_in(client, owner.email).status_code == 303
    form = {"current": PASSWORD, "new": "another password 1", "confirm": "another password 1"}
    assert client.post("/admin/password", data=form).status_code == 403
    assert client.post("/admin/password", data={**form, "csrf_token": "nope"}).status_code == 403
    assert client.post("/admin/logout").status_code == 403
    with db.read_session() as session:  # nothing changed
        assert session.exec(select(UserSession)).all()
        assert not session.exec(select(AuditEntry)).all()
    # The session's token, as the form field or the header, is what lets it through.
    token = csrf_of(client.get("/admin/password").text)
    assert client.post("/admin/logout", headers={"X-CSRF-Token": token}).status_code == 303


@pytest.mark.parametrize(
    ("next_path", "lands"),
    [
        ("/admin/password", "/admin/password"),
        ("/admin?lang=en", "/admin?lang=en"),
        ("//evil.example/x", "/admin"),
        ("https://evil.example/", "/admin"),
        ("/\\evil.example", "/admin"),
        ("javascript:alert(1)", "/admin"),
        ("/admin\r\nLocation: https://evil.example", "/admin"),
        ("", "/admin"),
    ],
)
def test_after_sign_in_only_local_paths(
    db: Database, browser: Browser, next_path: str, lands: str
) -> None:
    owner = make_user(db, Role.OWNER)
    response = sign_in(browser(), owner.email, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == lands


def test_anonymous_pages_go_to_sign_in_and_the_api_answers_401(browser: Browser) -> None:
    client = browser()
    page = client.get("/admin/password?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/admin/login?next=/admin/password%3Fx%3D1"
    assert client.get("/admin").headers["location"] == "/admin/login?next=/admin"
    api = client.get("/admin/api/me")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"


def test_sign_out_ends_the_session(db: Database, browser: Browser) -> None:
    owner = make_user(db, Role.OWNER)
    client = browser()
    sign_in(client, owner.email)
    stolen = client.cookies[SESSION_COOKIE]
    token = csrf_of(client.get("/admin").text)
    out = client.post("/admin/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login?signed_out=1"
    assert client.get("/admin").status_code == 303
    replay = browser()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/admin").status_code == 303  # the token is dead on the server too


def test_agents_land_on_the_agent_console(
    db: Database, browser: Browser, make_tenant: object
) -> None:
    tenant = make_tenant()  # type: ignore[operator]
    agent = make_user(db, Role.AGENT, licensee_id=tenant.licensee.id)
    client = browser()
    assert sign_in(client, agent.email, next_path="/admin").headers["location"] == "/agent"
    assert client.get("/admin").headers["location"] == "/agent"
