"""Database engines (SQLite with WAL by default, PostgreSQL by URL) and Alembic migrations."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

import core.db.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from core.db.writer import PooledWriter, Writer
from core.settings import Settings

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_private(path: Path) -> None:
    """Create the SQLite file ``path`` readable by its owner only (0600, like ``.kefu-secret``):
    it holds every conversation. SQLite gives the ``-wal`` and ``-shm`` files it creates beside
    it the same mode. An existing file is left as its operator set it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    os.chmod(path, 0o600)  # whatever the umask


def make_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    pool_size: int = 8,
    immediate: bool = False,
    pool_timeout: float = 30.0,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            create_private(Path(parsed.database).expanduser())
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
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
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
    )


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, the network):
    an outage to report in one line, not a bug to report with its traceback."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Database:
    """The engines of one process and its one write path.

    Every change goes through ``write`` (from the event loop) or ``run`` (from a thread): the
    group-commit ``Writer``, which hands the function an ORM ``Session`` and returns once its
    transaction has committed. ``read`` runs a function over a reading session.
    ``session()`` and ``read_session()`` are plain sessions for operator work (the CLI).

    On SQLite the writes have an engine of their own that begins with ``BEGIN IMMEDIATE``:
    a writer takes the lock before its first read, so two processes never both read, then
    both fail to upgrade to the write lock. Reads begin deferred and never take it.
    """

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 8,
        pool_timeout: float = 30.0,
        write_threads: int = 0,
    ) -> None:
        self.url = url
        self.is_sqlite = make_url(url).drivername.startswith("sqlite")
        self.engine = make_engine(
            url,
            sqlite_synchronous=sqlite_synchronous,
            pool_size=pool_size,
            pool_timeout=pool_timeout,
        )
        self.write_engine = (
            make_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=2, immediate=True)
            if self.is_sqlite
            else self.engine
        )
        # PostgreSQL only: 0 keeps the group commit, N writes N transactions at once.
        self._write_threads = 0 if self.is_sqlite else write_threads
        self._writer: Writer | PooledWriter | None = None

    @property
    def writer(self) -> Writer | PooledWriter:
        """The write path (started on first use: a read-only command needs no thread)."""
        if self._writer is None:
            if self._write_threads:
                self._writer = PooledWriter(self.write_engine, threads=self._write_threads)
            else:
                self._writer = Writer(self.write_engine)
        return self._writer

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in the group commit; returns once it is durable."""
        return await self.writer.submit_async(fn)

    def run(self, fn: Callable[[Session], T]) -> T:
        """``write`` for a caller that is a thread (the CLI, operator work)."""
        return self.writer.run(fn)

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` over a reading session (its transaction is rolled back)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return fn(session)

    def session(self) -> Session:
        """An ORM session for operator work (CLI, API); it writes through the write engine."""
        return Session(self.write_engine, expire_on_commit=False)

    def read_session(self) -> Session:
        """An ORM session for reading only (never takes the SQLite write lock)."""
        return Session(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.write_engine)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


def open_database(settings: Settings) -> Database:
    """The database as the settings describe it (pool, timeouts, write path)."""
    return Database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
        write_threads=min(settings.db_write_threads, settings.db_pool_size),
    )


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


@cache
def migration_heads() -> frozenset[str]:
    """The newest revisions of the migrations this code ships (read once per process)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is already at the newest migration (one small query)."""
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads()) == migration_heads()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; ``kefu serve`` and every CLI command
    call it on start). A database already there costs one query, not Alembic's start-up; one
    behind, or at a revision this code does not know, goes through Alembic as before."""
    if at_head(engine):
        return
    command.upgrade(alembic_config(engine), "head")
