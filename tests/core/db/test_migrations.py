"""Migrations build exactly the schema the models describe, on both databases, idempotently;
``migrate`` at the newest revision is one query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from core.db.engine import Database, alembic_config, at_head, migration_heads
from testkit.databases import postgres_database


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


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database; on PostgreSQL a database of its own, not a schema of the shared one,
    so that a concurrent index build waits only for this test's transactions."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/kefu.db"
        return
    with postgres_database() as url:
        yield url


def test_0020_marks_replies_stored_before_0014_by_their_sources_and_0014_builds_online(
    own_database: str,
) -> None:
    """Robot replies without ``resolved`` get it from their sources (none cited: did not know,
    as the reports counted them); on PostgreSQL, 0014 builds its indexes on tables that have
    rows with CREATE INDEX CONCURRENTLY."""
    from alembic import command
    from sqlalchemy import event, text

    from core.db.engine import alembic_config

    database = Database(own_database, sqlite_synchronous="NORMAL")
    statements: list[str] = []
    event.listen(
        database.write_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_a: statements.append(" ".join(sql.split())),
    )
    at = "'2026-01-01 00:00:00+00:00'"
    try:
        cfg = alembic_config(database.write_engine)
        command.upgrade(cfg, "0013")
        with database.write_engine.begin() as conn:
            for sql in (
                "INSERT INTO licensees (id, name, status, timezone, service_start, service_end,"
                " idle_timeout_minutes, locale, title, greeting, theme_color, kb_version,"
                " created_at, updated_at) VALUES ('lic_old', 'Old', 'active', 'UTC',"
                f" '2026-01-01', '2026-12-31', 30, 'en', '', '', '#000000', 0, {at}, {at})",
                "INSERT INTO api_keys (id, licensee_id, kind, token_hash, display, created_at)"
                f" VALUES ('key_old', 'lic_old', 'live', 'h', 'pk_live_x', {at})",
                "INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                " beyond_term, started_at, last_activity_at, last_seq) VALUES ('conv_old',"
                f" 'lic_old', 'v', 'key_old', false, false, {at}, {at}, 3)",
            ):
                conn.execute(text(sql))
            for seq, role, sources in (
                (1, "visitor", "null"),
                (2, "robot", '[{"id": "kb_1", "question": "q"}]'),
                (3, "robot", "[]"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO messages (id, conversation_id, licensee_id, visitor_id, seq,"
                        " role, text, created_at, sources) VALUES (:id, 'conv_old', 'lic_old',"
                        f" 'v', :seq, :role, 't', {at}, :sources)"
                    ),
                    {"id": f"msg_{seq}", "seq": seq, "role": role, "sources": sources},
                )
        statements.clear()
        command.upgrade(cfg, "head")
        with database.engine.connect() as conn:
            marks: dict[int, object] = dict(
                conn.execute(text("SELECT seq, resolved FROM messages")).all()
            )
        assert marks == {1: None, 2: True, 3: False}
        if database.write_engine.dialect.name == "postgresql":
            online = (  # 0014's indexes of tables with rows (ratings has none: built plainly)
                "ix_messages_unanswered",
                "ix_conversations_licensee_reason_started",
                "ix_conversations_started",
            )
            built = [s for s in statements if s.startswith("CREATE INDEX") and "_started" in s]
            built += [s for s in statements if "ix_messages_unanswered ON" in s]
            assert {n for n in online if any(f" {n} ON" in s for s in built)} == set(online)
            assert all(s.startswith("CREATE INDEX CONCURRENTLY") for s in built), built
    finally:
        database.close()


def test_a_new_postgres_database_builds_its_indexes_in_the_migration(empty_db_url: str) -> None:
    """No table has rows yet: no concurrent build (it would wait for every transaction of the
    database), and the schema is the same."""
    from sqlalchemy import event

    database = Database(empty_db_url, sqlite_synchronous="NORMAL")
    statements: list[str] = []
    event.listen(
        database.write_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_a: statements.append(sql),
    )
    try:
        database.migrate()
        assert any("ix_messages_unanswered" in s for s in statements)
        assert not any("CONCURRENTLY" in s for s in statements)
    finally:
        database.close()
