"""SQLite engines: a failed commit never leaves a pooled connection holding the write lock,
and a new database file is readable by its owner only."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.db.engine import Database, make_engine


def test_a_failed_commit_never_keeps_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}", immediate=True, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (k TEXT PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (k TEXT PRIMARY KEY, p TEXT REFERENCES parent(k))"))
    conn = engine.connect()  # begin, statements, a commit that fails, close
    tx = conn.begin()
    conn.execute(text("PRAGMA defer_foreign_keys=ON"))  # the violation surfaces at COMMIT
    conn.execute(text("INSERT INTO child (k, p) VALUES ('c', 'missing')"))
    with pytest.raises(IntegrityError):
        tx.commit()
    conn.close()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the lock was kept
    other.execute("ROLLBACK")
    other.close()
    with engine.begin() as conn:  # and the pooled connection itself begins again
        assert conn.execute(text("SELECT count(*) FROM child")).scalar_one() == 0
    engine.dispose()


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual one, which would make the file 0644
    try:
        db = Database(f"sqlite:///{tmp_path}/data/kefu.db", sqlite_synchronous="NORMAL")
        db.migrate()
        db.run(lambda conn: conn.execute(text("CREATE TABLE t (k TEXT)")))
        with db.read_session() as s:  # readers open the WAL index too
            s.execute(text("SELECT count(*) FROM t")).scalar_one()
            files = sorted(p.name for p in (tmp_path / "data").iterdir())
            assert files == ["kefu.db", "kefu.db-shm", "kefu.db-wal"]
            for name in files:
                assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name
        db.close()
    finally:
        os.umask(old_umask)


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "kefu.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    Database(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
