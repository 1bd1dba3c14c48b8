"""Databases for a test: a PostgreSQL schema of its own (empty, or migrated to the newest
revision) or a migrated SQLite file, each dropped afterwards.

Migrated ones are not migrated by Alembic for each test: the real migrations run once per
process, and each test gets a copy. On PostgreSQL the copy is the SQL those migrations ran,
recorded and replayed in one round trip into a new schema, made while the previous test runs.
(A new database from a template is quicker to create, but dropping a database waits for a
checkpoint of the whole server, which on a busy machine costs more than all the rest:
``bench/test_databases.py``.)"""

from __future__ import annotations

import atexit
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

from core.db.engine import Database, create_private

PG_URL = os.environ.get("KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

Statement = tuple[str, Any]  # SQL in the driver's form and its parameters (None for none)


@contextmanager
def postgres_schema(server_url: str = PG_URL) -> Iterator[str]:
    """The URL of a new, empty schema on ``server_url``; the schema and its tables are dropped
    on exit, so tests never see each other's rows."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def postgres_database(server_url: str = PG_URL) -> Iterator[str]:
    """The URL of a new, empty database on ``server_url``'s server, dropped on exit. A test of
    ``CREATE INDEX CONCURRENTLY`` needs one: the build waits for every older transaction of its
    database, and other work on the shared test database may hold one for minutes."""
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _reads_the_catalog(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" and ("pg_catalog." in sql or "information_schema." in sql)


@cache
def migration_script(server_url: str = PG_URL) -> tuple[Statement, ...]:
    """Every statement the real migrations run to bring an empty PostgreSQL schema to the newest
    revision (Alembic's look-ups in the catalog left out), recorded once per process."""
    recorded: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        recorded.append((sql, params or None))

    with postgres_schema(server_url) as url:
        schema = url.rsplit("%3D", 1)[1]
        database = Database(url)
        event.listen(database.write_engine, "before_cursor_execute", record)
        try:
            database.migrate()
        finally:
            database.close()
    script = tuple(s for s in recorded if not _reads_the_catalog(s[0]))
    if any(schema in sql for sql, _ in script):
        raise RuntimeError("a migration names its schema: its SQL cannot be replayed elsewhere")
    return script


def _batches(script: tuple[Statement, ...]) -> Iterator[Statement]:
    """Runs of statements without parameters joined into one (one round trip each)."""
    plain: list[str] = []
    for sql, params in script:
        if params is None:
            plain.append(sql)
            continue
        if plain:
            yield ";\n".join(plain), None
            plain = []
        yield sql, params
    if plain:
        yield ";\n".join(plain), None


def new_migrated_schema(server_url: str) -> str:
    """A new schema with the migrations' SQL replayed in it in one transaction; its URL."""
    script = migration_script(server_url)
    schema = f"t_{secrets.token_hex(6)}"
    url = f"{server_url}?options=-csearch_path%3D{schema}"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            for sql, params in _batches(script):
                conn.exec_driver_sql(sql, params)
    finally:
        engine.dispose()
    return url


def drop_schema_of(url: str) -> None:
    admin = create_engine(url.split("?", 1)[0], isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{url.rsplit("%3D", 1)[1]}" CASCADE'))
    finally:
        admin.dispose()


# The next test's schema is made, and the last one dropped, while this test runs (the server
# works on the other core): one made ahead per server, handed out once, dropped at exit if no
# test took it. Python lets both threads finish their queues before the exit handlers run.
_maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrated-schema")
_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-schema")
_ahead: dict[str, Future[str]] = {}
_ahead_lock = threading.Lock()


@atexit.register
def drop_unused_schemas() -> None:
    """Drop the schemas made ahead that no test took (at exit: the maker has finished)."""
    with _ahead_lock:
        unused = list(_ahead.values())
        _ahead.clear()
    for made in unused:
        if made.exception() is None:
            drop_schema_of(made.result())


@contextmanager
def migrated_postgres_schema(server_url: str = PG_URL) -> Iterator[str]:
    """The URL of a new schema on ``server_url`` with no rows, at the newest revision: the
    migrations' SQL (``migration_script``) replayed in it, made while the previous test ran.
    Dropped on exit, failed or not, in the background (``settle`` waits for that)."""
    with _ahead_lock:
        made = _ahead.pop(server_url, None) or _maker.submit(new_migrated_schema, server_url)
        _ahead[server_url] = _maker.submit(new_migrated_schema, server_url)
    url = made.result()
    try:
        yield url
    finally:
        _dropper.submit(drop_schema_of, url)


def settle() -> None:
    """Wait until the schemas' maker and dropper have done everything asked of them so far."""
    _maker.submit(lambda: None).result()
    _dropper.submit(lambda: None).result()


def sqlite_template(directory: Path) -> Path:
    """A SQLite file in ``directory`` migrated to the newest revision by the real migrations,
    with its write-ahead log folded in so that the one file is the whole database."""
    path = directory / "template.db"
    database = Database(f"sqlite:///{path}", sqlite_synchronous="NORMAL")
    try:
        database.migrate()
    finally:
        database.close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    """The URL of ``path``, a copy of the migrated ``template`` (owner-only, like a new one)."""
    create_private(path)
    path.write_bytes(template.read_bytes())
    return f"sqlite:///{path}"
