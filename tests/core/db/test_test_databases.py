"""The tests' own databases (testkit.databases): copies of a template the real migrations built,
keyed on the migration files, each dropped after its test even when the test fails."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.db.engine import MIGRATIONS_DIR, Database, at_head
from testkit import databases


def _databases_named(name: str) -> int:
    admin = create_engine(databases.PG_URL, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            query = text("SELECT count(*) FROM pg_database WHERE datname = :n")
            return int(conn.execute(query, {"n": name}).scalar_one())
    finally:
        admin.dispose()


def test_a_postgres_copy_is_its_own_migrated_database_and_is_dropped_even_on_failure() -> None:
    names, forgotten = [], []
    with pytest.raises(RuntimeError), databases.postgres_database() as url:
        name = make_url(url).database
        assert name is not None and name != make_url(databases.PG_URL).database
        names.append(name)
        database = Database(url)
        assert at_head(database.engine)
        database.close()
        # A connection the test forgot to close does not keep its database.
        libpq_url = make_url(url).set(drivername="postgresql").render_as_string(False)
        forgotten.append(psycopg.connect(libpq_url))
        raise RuntimeError("the test failed")
    forgotten[0].close()
    assert _databases_named(names[0]) == 0
    assert _databases_named(databases.postgres_template()) == 1


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


def test_the_template_follows_the_migration_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed, added or renamed migration file gives another template, never a stale one."""
    for path in sorted(MIGRATIONS_DIR.rglob("*.py")):
        copy = tmp_path / path.relative_to(MIGRATIONS_DIR)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    assert databases.migrations_digest() == _digest_of(tmp_path, monkeypatch)
    seen = {_digest_of(tmp_path, monkeypatch)}
    newest = sorted((tmp_path / "versions").glob("0*.py"))[-1]
    newest.write_text(newest.read_text() + "\n# changed\n")
    seen.add(_digest_of(tmp_path, monkeypatch))
    (tmp_path / "versions" / "9999_new.py").write_text("")
    seen.add(_digest_of(tmp_path, monkeypatch))
    newest.rename(newest.with_name("0999_renamed.py"))
    seen.add(_digest_of(tmp_path, monkeypatch))
    assert len(seen) == 4


def _digest_of(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(databases, "MIGRATIONS_DIR", directory)
    return databases.migrations_digest()
