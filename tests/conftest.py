"""Shared fixtures: both databases, a licensee factory, a real uvicorn server on loopback, and
fake model providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat.services import build_services
from bot.llm import aclose_clients, warm_up
from core.db.engine import Database
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.databases import (
    migrated_postgres_schema,
    postgres_schema,
    sqlite_copy,
    sqlite_template,
)
from testkit.providers import FakeOllama, FakeOpenAI
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import MakeTenant, Tenant
from testkit.tenants import make_tenant as new_tenant


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run, which ``db_url`` copies for each test."""
    return sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> Iterator[str]:
    """A fresh database of each kind, empty and migrated to the newest revision: SQLite in a temp
    dir, PostgreSQL in its own schema, dropped afterwards. Each is a copy of what the real
    migrations built once per run (testkit.databases)."""
    if request.param == "sqlite":
        yield sqlite_copy(migrated_sqlite, tmp_path / "kefu.db")
        return
    with migrated_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each kind with no tables at all, for the tests of the migrations
    themselves: SQLite in a temp dir, PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/kefu.db"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/kefu.db"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, sqlite_synchronous="NORMAL")
    database.migrate()  # already at the newest revision: one query
    yield database
    database.close()


@pytest.fixture
def make_tenant(db: Database) -> MakeTenant:
    def make(*args: Any, **kw: Any) -> Tenant:
        return new_tenant(db, *args, **kw)

    return make


@pytest.fixture
def live(db: Database, db_url: str) -> Iterator[LiveServer]:
    """A real server on loopback with the echo answerer, on each database."""
    settings = settings_for(db_url, ws_ping_interval_seconds=0.3)
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)


@pytest.fixture
async def model_clients() -> AsyncIterator[None]:
    """What a first model call needs imported before the test (once; so that no test's timing
    pays for it), and the shared model connections closed after it (they belong to its event
    loop). Model tests use it: ``pytest.mark.usefixtures("model_clients")``."""
    warm_up()
    yield
    await aclose_clients()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOllama]]:
    """A fake OpenAI-compatible server and a fake Ollama, running."""
    with FakeOpenAI() as openai_fake, FakeOllama() as ollama_fake:
        yield openai_fake, ollama_fake
