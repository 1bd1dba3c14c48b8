"""Shared fixtures: both databases, a licensee factory, and a real uvicorn server on loopback."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import create_engine, text

from bot.chat.services import ChatServices, build_services
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing.licensees import CreatedKeys, create_licensee
from core.settings import Settings, load_settings
from core.types import utcnow
from kefu.app import create_app, transport_options
from tests.fakes import EchoAnswerer, KeywordIndex

PG_URL = os.environ.get("KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ORIGIN = "https://shop.example.com"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind: SQLite in a temp dir, PostgreSQL in its own schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/kefu.db"
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/kefu.db"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, sqlite_synchronous="NORMAL")
    database.migrate()
    yield database
    database.close()


@dataclass
class Tenant:
    licensee: Licensee
    keys: CreatedKeys


MakeTenant = Callable[..., Tenant]


@pytest.fixture
def make_tenant(db: Database) -> MakeTenant:
    def make(name: str = "Shop", origins: list[str] | None = None, **kw: Any) -> Tenant:
        with db.session() as session:
            licensee, keys = create_licensee(
                session, name=name, origins=origins or [ORIGIN], now=kw.pop("now", utcnow()), **kw
            )
            session.commit()
        return Tenant(licensee, keys)

    return make


def settings_for(url: str, **overrides: Any) -> Settings:
    return load_settings(
        database_url=url,
        secret_key=secrets.token_urlsafe(40),
        sweep_interval_seconds=0.2,
        licence_watch_interval_seconds=0.2,
        **overrides,
    )


@dataclass
class LiveServer:
    url: str
    ws_url: str
    services: ChatServices
    answerer: EchoAnswerer


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def run_server(services: ChatServices, **uvicorn_kw: Any) -> Iterator[str]:
    """Serve ``services`` with real uvicorn (the production transport settings) in a thread."""
    app = create_app(services.settings, services=services)
    sock = _free_socket()
    port = sock.getsockname()[1]
    options = {**transport_options(services.settings), **uvicorn_kw}
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live(db: Database, db_url: str) -> Iterator[LiveServer]:
    """A real server on loopback with the echo answerer, on each database."""
    settings = settings_for(db_url, ws_ping_interval_seconds=0.3)
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)
