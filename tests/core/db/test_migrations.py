"""Migrations build exactly the schema the models describe, on both databases, idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from core.db.engine import Database


def test_migrated_schema_matches_the_models(db: Database) -> None:
    db.migrate()  # a second run changes nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_fresh_database_is_at_the_newest_revision(db: Database) -> None:
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    from alembic.script import ScriptDirectory

    from core.db.engine import alembic_config

    assert current == ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()


def test_0004_gives_existing_licensees_the_default_look_and_epoch(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from core.db.engine import alembic_config

    database = Database(db_url, sqlite_synchronous="NORMAL")
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
