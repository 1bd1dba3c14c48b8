"""One leader for the jobs: exactly one process per schema leads, another takes over at once
when it lets go or its connection dies; SQLite is simply the leader."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from core.db.leader import Leadership
from testkit.databases import postgres_schema


def test_sqlite_is_simply_the_leader() -> None:
    assert Leadership("sqlite:///x.db").check()


def test_one_leader_per_schema_and_a_takeover() -> None:
    with postgres_schema() as url, postgres_schema() as other_url:
        one, two, elsewhere = Leadership(url), Leadership(url), Leadership(other_url)
        try:
            assert one.check()
            assert not two.check() and not two.check()
            assert elsewhere.check()  # another installation leads its own jobs
            one.close()
            assert two.check()
            assert not one.check()
        finally:
            for leader in (one, two, elsewhere):
                leader.close()


def test_a_leader_whose_connection_dies_stops_leading_and_another_takes_over() -> None:
    with postgres_schema() as url:
        one, two = Leadership(url), Leadership(url)
        try:
            assert one.check()
            assert one._conn is not None
            pid = one._conn.execute(text("SELECT pg_backend_pid()")).scalar()
            admin = create_engine(url)
            with admin.connect() as conn:  # as when the leader's host vanishes
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            admin.dispose()
            assert not one.check()
            # The server lets go of the dead session's lock a moment after it ends it.
            deadline = time.monotonic() + 3
            while not two.check() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert two.is_leader
            assert not one.check()
        finally:
            one.close()
            two.close()
