"""What a test's migrated database costs to make and drop, the old way against the new, side by
side in one run (interleaved, so that the machine's load hits each alike):

- PostgreSQL, migrated: a new schema migrated by Alembic (before) against a new schema with the
  migrations' recorded SQL replayed in it, on the spot and as a test gets it (made while the
  previous one ran, dropped in the background: ``testkit.databases.migrated_postgres_schema``),
  and,
  for the record, a new database copied from a migrated template (``CREATE DATABASE ... TEMPLATE
  ... STRATEGY WAL_LOG``; its ``DROP DATABASE`` waits for a checkpoint of the whole server);
- SQLite: a new file migrated by Alembic against a copy of a migrated file.

Each variant includes opening the database and the ``migrate()`` the tests' ``db`` fixture runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import load_figures

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.db.engine import Database
from testkit.databases import (
    PG_URL,
    drop_schema_of,
    migrated_postgres_schema,
    migration_script,
    new_migrated_schema,
    postgres_schema,
    settle,
    sqlite_copy,
    sqlite_template,
)

Timing = tuple[float, float]  # seconds to make (and migrate) and to drop


def opened(url: str) -> None:
    database = Database(url, sqlite_synchronous="NORMAL")
    database.migrate()
    database.close()


def pg_alembic() -> Timing:
    t0 = time.perf_counter()
    with postgres_schema() as url:
        opened(url)
        t1 = time.perf_counter()
    return t1 - t0, time.perf_counter() - t1


def pg_replay() -> Timing:
    t0 = time.perf_counter()
    url = new_migrated_schema(PG_URL)
    opened(url)
    t1 = time.perf_counter()
    drop_schema_of(url)
    return t1 - t0, time.perf_counter() - t1


def pg_ahead() -> Timing:
    """As a test gets it: made while the previous one ran, dropped in the background."""
    t0 = time.perf_counter()
    with migrated_postgres_schema() as url:
        opened(url)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    settle()  # not the test's time: the next test runs meanwhile
    return t1 - t0, t2 - t1


def pg_template(template: str) -> Callable[[], Timing]:
    def run() -> Timing:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        name = f"t_{secrets.token_hex(6)}"
        t0 = time.perf_counter()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        opened(url)
        t1 = time.perf_counter()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        return t1 - t0, time.perf_counter() - t1

    return run


def sqlite_alembic(directory: Path) -> Callable[[], Timing]:
    def run() -> Timing:
        path = directory / f"{secrets.token_hex(6)}.db"
        t0 = time.perf_counter()
        opened(f"sqlite:///{path}")
        t1 = time.perf_counter()
        path.unlink()
        return t1 - t0, time.perf_counter() - t1

    return run


def sqlite_copied(directory: Path, template: Path) -> Callable[[], Timing]:
    def run() -> Timing:
        path = directory / f"{secrets.token_hex(6)}.db"
        t0 = time.perf_counter()
        opened(sqlite_copy(template, path))
        t1 = time.perf_counter()
        path.unlink()
        return t1 - t0, time.perf_counter() - t1

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="databases per variant")
    args = parser.parse_args()
    print(f"one migrated database per test, {args.runs} of each; load {load_figures()}")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    template = f"bench_template_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    opened(make_url(PG_URL).set(database=template).render_as_string(hide_password=False))
    migration_script()  # recorded once per process, as in a test run
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        variants: dict[str, Callable[[], Timing]] = {
            "PostgreSQL: schema + Alembic (before)": pg_alembic,
            "PostgreSQL: schema + replayed SQL": pg_replay,
            "PostgreSQL: the same, made ahead (now)": pg_ahead,
            "PostgreSQL: database from a template": pg_template(template),
            "SQLite: file + Alembic (before)": sqlite_alembic(directory),
            "SQLite: copied file (now)": sqlite_copied(directory, sqlite_template(directory)),
        }
        results: dict[str, list[Timing]] = {name: [] for name in variants}
        try:
            for _ in range(args.runs):
                for name, run in variants.items():
                    results[name].append(run())
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{template}" WITH (FORCE)'))
            admin.dispose()
    for name, timings in results.items():
        make = statistics.median(t[0] for t in timings) * 1000
        drop = statistics.median(t[1] for t in timings) * 1000
        total = statistics.mean(t[0] + t[1] for t in timings) * 1000
        print(f"  {name:42} make {make:6.0f} ms  drop {drop:5.0f} ms  (medians);"
              f" mean of both {total:6.0f} ms")  # fmt: skip
    print(f"after: load {load_figures()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
