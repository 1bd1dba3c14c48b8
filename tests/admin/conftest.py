"""Fixtures of the console tests: its app on each database and a client per browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from core.db.engine import Database
from testkit.admin import Browser, admin_app, admin_settings, cheap_passwords


@pytest.fixture
def app(db: Database, db_url: str) -> FastAPI:
    return admin_app(db, admin_settings(db_url))


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    """A new browser (its own cookie jar) on the console each call."""
    clients: list[TestClient] = []

    def make(base_url: str = "http://testserver", **kw: object) -> TestClient:
        client = TestClient(app, base_url=base_url, follow_redirects=False, **kw)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_passwords(monkeypatch)
