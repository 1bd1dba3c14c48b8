"""SQLite engines: a failed commit never leaves a pooled connection holding the write lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.db.engine import make_engine


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
