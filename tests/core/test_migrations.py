"""Migrations build exactly the schema the models describe, on both databases, idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from core.db import Database


def test_migrated_schema_matches_the_models(db: Database) -> None:
    db.migrate()  # a second run changes nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_fresh_database_is_at_the_newest_revision(db: Database) -> None:
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    from alembic.script import ScriptDirectory

    from core.db import alembic_config

    assert current == ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
