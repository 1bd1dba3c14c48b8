"""Database engines (SQLite with WAL by default, PostgreSQL by URL) and Alembic migrations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session

import core.db.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from core.db.loop_writer import LoopWriter
from core.db.writer import Writer

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    pool_size: int = 8,
    immediate: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            if immediate:
                # Take over BEGIN from pysqlite (SQLAlchemy's documented recipe) so that a
                # writer holds the lock from its first read: no SQLITE_BUSY half-way through.
                dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "checkin")
        def _end_open_transaction(dbapi_conn: Any, _record: Any) -> None:
            # A COMMIT that failed (a deferred constraint, a full disk) leaves SQLite's
            # transaction open while SQLAlchemy counts it as over, so the pool's own reset skips
            # it: the connection would keep the write lock and block every other writer.
            if dbapi_conn is not None and dbapi_conn.in_transaction:
                dbapi_conn.rollback()

        if immediate:

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """The engines of one process: pooled reads, and one group-commit writer for the hot path."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = make_url(url).drivername.startswith("sqlite")
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        self.write_engine = (
            make_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=2, immediate=True)
            if self.is_sqlite
            else self.engine
        )
        self._sqlite_synchronous = sqlite_synchronous
        self._writer: Writer | None = None
        self._loop_writer: LoopWriter | None = None

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            self._writer = Writer(self.write_engine)
        return self._writer

    async def write(self, fn: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """Run ``fn`` in a group commit from the event loop; returns once it is durable.

        On SQLite the statements run on the loop and only the commit in a thread
        (``LoopWriter``); on PostgreSQL, whose statements are network round trips, all of it
        runs in the writer thread. ``bulk`` marks an operation that may touch thousands of rows.
        """
        if not self.is_sqlite:
            return await self.writer.submit_async(fn)
        return await self.loop_writer.submit_async(fn, bulk=bulk)

    @property
    def loop_writer(self) -> LoopWriter:
        """SQLite's group commit for the event loop (see ``write``)."""
        if self._loop_writer is None:
            # Its own connection never waits for the write lock: a busy lock sends the batch
            # to the thread writer instead of blocking the event loop.
            engine = make_engine(
                self.url,
                sqlite_synchronous=self._sqlite_synchronous,
                pool_size=1,
                immediate=True,
                busy_timeout_ms=0,
            )
            self._loop_writer = LoopWriter(engine, self.writer)
        return self._loop_writer

    def session(self) -> Session:
        """An ORM session for operator work (CLI, API); it writes through the write engine."""
        return Session(self.write_engine, expire_on_commit=False)

    def read_session(self) -> Session:
        """An ORM session for reading only (never takes the SQLite write lock)."""
        return Session(self.engine, expire_on_commit=False)

    def read(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return fn(conn)

    def migrate(self) -> None:
        migrate(self.write_engine)

    def close(self) -> None:
        if self._loop_writer is not None:
            self._loop_writer.close()
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


def make_unpooled_engine(url: str) -> Engine:
    """A throw-away engine for one-shot CLI work on PostgreSQL (no idle pool left behind)."""
    return create_engine(url, poolclass=NullPool)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; ``kefu serve`` calls it on start)."""
    command.upgrade(alembic_config(engine), "head")
