"""Migrations build exactly the schema the models describe, on both databases, idempotently;
``migrate`` at the newest revision is one query."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from core.db.engine import Database, alembic_config, at_head, migration_heads


@pytest.fixture
def migrated(empty_db_url: str) -> Iterator[Database]:
    """A database migrated from nothing by the real migrations (not a template's copy)."""
    database = Database(empty_db_url, sqlite_synchronous="NORMAL")
    assert inspect(database.engine).get_table_names() == []
    database.migrate()
    yield database
    database.close()


def test_migrated_schema_matches_the_models(migrated: Database) -> None:
    command.upgrade(alembic_config(migrated.write_engine), "head")  # a second run changes nothing
    with migrated.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_fresh_database_is_at_the_newest_revision(migrated: Database) -> None:
    with migrated.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert (
        current == ScriptDirectory.from_config(alembic_config(migrated.engine)).get_current_head()
    )
    assert migration_heads() == {current}


def test_the_tests_databases_are_migrated_copies_with_no_rows(db: Database) -> None:
    """What every test's ``db`` is: the newest schema, exactly the models', and not one row
    (the template was never used for anything but copying)."""
    assert at_head(db.engine)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        for table in SQLModel.metadata.sorted_tables:
            assert conn.execute(text(f'SELECT count(*) FROM "{table.name}"')).scalar() == 0


def test_migrate_at_the_newest_revision_does_not_start_alembic(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("Alembic ran on a database already at the newest revision")

    monkeypatch.setattr(command, "upgrade", refuse)
    db.migrate()


def test_migrate_brings_an_older_database_to_the_newest_revision(empty_db_url: str) -> None:
    database = Database(empty_db_url, sqlite_synchronous="NORMAL")
    try:
        command.upgrade(alembic_config(database.write_engine), "0003")
        assert not at_head(database.engine)
        database.migrate()
        assert at_head(database.engine)
        assert "access_tokens" in inspect(database.engine).get_table_names()
    finally:
        database.close()


def test_0004_gives_existing_licensees_the_default_look_and_epoch(empty_db_url: str) -> None:
    database = Database(empty_db_url, sqlite_synchronous="NORMAL")
    try:
        cfg = alembic_config(database.write_engine)
        command.upgrade(cfg, "0003")
        with database.write_engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO licensees (id, name, status, timezone, service_start,"
                    " service_end, idle_timeout_minutes, locale, title, greeting, theme_color,"
                    " kb_version, created_at, updated_at) VALUES ('lic_old', 'Old', 'active',"
                    " 'UTC', '2026-01-01', '2026-12-31', 30, 'en', '', '', '#000000', 0,"
                    " '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"
                )
            )
        command.upgrade(cfg, "head")
        with database.engine.connect() as conn:
            row = conn.execute(text("SELECT widget_position, identity_epoch FROM licensees")).one()
            assert tuple(row) == ("right", 0)
            assert conn.execute(text("SELECT count(*) FROM end_users")).scalar() == 0
        command.downgrade(cfg, "0003")
        command.upgrade(cfg, "head")
    finally:
        database.close()
