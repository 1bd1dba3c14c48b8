"""Databases for a test: an empty PostgreSQL schema of its own, or a PostgreSQL database or
SQLite file already migrated to the newest revision (a copy of a template migrated once), each
dropped afterwards."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.db.engine import MIGRATIONS_DIR, Database, create_private

PG_URL = os.environ.get("KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


def migrations_digest() -> str:
    """A digest of every migration file: a template built from other migrations is never used."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.rglob("*.py")):
        digest.update(path.relative_to(MIGRATIONS_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name``."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@cache
def postgres_template(server_url: str = PG_URL) -> str:
    """The name of a database on ``server_url`` migrated to the newest revision by the real
    migrations, to be copied and never connected to. Built once for these migration files and
    kept; a lock on the server makes concurrent test runs build it once between them."""
    name = f"kefu_template_{migrations_digest()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            # A session lock: released when this connection closes, whatever happens.
            conn.execute(text("SELECT pg_advisory_lock(hashtext('kefu.test-template'))"))
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if found.first() is None:
                building = f"{name}_building"  # a build cut short is never used, only redone
                conn.execute(text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{building}"'))
                database = Database(database_url(server_url, building))
                try:
                    database.migrate()
                finally:
                    database.close()
                conn.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
    finally:
        admin.dispose()
    return name


@contextmanager
def postgres_database(server_url: str = PG_URL) -> Iterator[str]:
    """The URL of a new database on ``server_url``, empty and migrated to the newest revision (a
    copy of ``postgres_template``); dropped on exit, with any connection a test left open."""
    template = postgres_template(server_url)
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            # WAL_LOG copies the small template block by block; FILE_COPY waits for two
            # checkpoints of the whole server (about ten times slower here).
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG'))
        try:
            yield database_url(server_url, name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


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
