"""The console in a test: an app with only the admin router, users of each role, signing in."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from starlette.testclient import TestClient

from admin.app import create_admin
from core.accounts import Role, create_user, passwords
from core.db.engine import Database
from core.db.tables import User
from core.settings import Settings, load_settings
from core.types import utcnow
from kefu import error_handler

Browser = Callable[..., TestClient]  # a new browser (cookie jar) on the console
PASSWORD = "correct horse battery"  # noqa: S105 - a test password
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def admin_settings(url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=url, secret_key=secrets.token_urlsafe(40), **overrides)


def admin_app(db: Database, settings: Settings, *extra: APIRouter, **hooks: Any) -> FastAPI:
    """A FastAPI app with the console (and ``extra`` routers behind the same gate)."""
    app = FastAPI()
    error_handler.install(app)
    router = create_admin(settings, db, **hooks)
    for more in extra:
        router.include_router(more)
    app.include_router(router)
    return app


def make_user(
    db: Database,
    role: Role,
    *,
    licensee_id: str | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "",
) -> User:
    with db.session() as session:
        user = create_user(
            session,
            email=email or f"{role.value}-{secrets.token_hex(4)}@example.com",
            password=password,
            role=role,
            licensee_id=licensee_id,
            name=name,
            now=utcnow(),
        )
        session.commit()
        return user


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "") -> Any:
    """Sign in through the form as a browser does; the response (a 303 when it worked)."""
    page = client.get("/admin/login")
    assert page.status_code == 200, page.text
    return client.post(
        "/admin/login",
        data={
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


def page_csrf(client: TestClient, path: str = "/admin/password") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with the smallest cost for tests that sign in many times: the rules under test
    (lock-out, sessions, CSRF, roles) do not depend on the hash's cost; tests/core/accounts
    keeps the real parameters."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
