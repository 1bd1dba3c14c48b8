"""The tests' own migrated databases (testkit.databases): a replayed PostgreSQL schema is exactly
what the real migrations build, a SQLite copy is migrated and private, and each is dropped after
its test even when the test fails."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from core.db.engine import Database, at_head
from testkit import databases


def _schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def _describe(conn: Connection, schema: str) -> dict[str, Any]:
    """The schema's columns, indexes, constraints, sequences and rows, with its name left out."""
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
        " column_default, character_maximum_length, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = :s",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
        "constraints": "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)"
        " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
        " JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = :s",
        "sequences": "SELECT sequence_name, data_type, start_value, increment"
        " FROM information_schema.sequences WHERE sequence_schema = :s",
    }

    def unnamed(value: Any) -> Any:  # the catalog names other schemas' objects in full
        return value.replace(f"{schema}.", "") if isinstance(value, str) else value

    found: dict[str, Any] = {
        name: sorted(tuple(map(unnamed, row)) for row in conn.execute(text(sql), {"s": schema}))
        for name, sql in queries.items()
    }
    tables = sorted({row[0] for row in found["columns"]})
    found["rows"] = {
        table: conn.execute(text(f'SELECT * FROM "{schema}"."{table}"')).all() for table in tables
    }
    return found


@pytest.fixture
def admin() -> Iterator[Connection]:
    # Autocommit: a transaction left open would hold locks that the schemas' drops wait for.
    engine = create_engine(databases.PG_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.mark.postgres
def test_a_replayed_schema_is_exactly_what_the_migrations_build(admin: Connection) -> None:
    with databases.postgres_schema() as real_url, databases.migrated_postgres_schema() as copy_url:
        database = Database(real_url)
        try:
            database.migrate()  # the real migrations, from nothing
        finally:
            database.close()
        real = _describe(admin, _schema_of(real_url))
        copy = _describe(admin, _schema_of(copy_url))
    assert len(real["columns"]) > 100 and len(real["indexes"]) > 20
    assert real["rows"]["alembic_version"]
    assert copy == real


def _schemas_named(admin: Connection, schema: str) -> int:
    query = text("SELECT count(*) FROM pg_namespace WHERE nspname = :s")
    return int(admin.execute(query, {"s": schema}).scalar_one())


@pytest.mark.postgres
def test_the_schema_made_ahead_is_fresh_and_dropped_if_unused(admin: Connection) -> None:
    with databases.migrated_postgres_schema() as url:
        first = _schema_of(url)
    ahead = _schema_of(databases._ahead[databases.PG_URL].result())
    databases.settle()
    assert ahead != first and _schemas_named(admin, ahead) == 1
    assert _schemas_named(admin, first) == 0
    databases.drop_unused_schemas()
    assert _schemas_named(admin, ahead) == 0
    with databases.migrated_postgres_schema() as url:  # a new one, not the dropped one
        assert _schema_of(url) not in (first, ahead)
        assert _schemas_named(admin, _schema_of(url)) == 1


@pytest.mark.postgres
def test_a_replayed_schema_is_dropped_even_when_its_test_fails(admin: Connection) -> None:
    schemas = []
    with pytest.raises(RuntimeError), databases.migrated_postgres_schema() as url:
        schemas.append(_schema_of(url))
        database = Database(url)
        try:
            assert at_head(database.engine)
        finally:
            database.close()
        raise RuntimeError("the test failed")
    databases.settle()
    assert _schemas_named(admin, schemas[0]) == 0


def test_a_sqlite_copy_is_migrated_and_private(tmp_path: Path) -> None:
    template = databases.sqlite_template(tmp_path / "t")
    assert not template.with_name("template.db-wal").exists()
    url = databases.sqlite_copy(template, tmp_path / "kefu.db")
    assert stat.S_IMODE((tmp_path / "kefu.db").stat().st_mode) == 0o600
    database = Database(url)
    try:
        assert at_head(database.engine)
    finally:
        database.close()
