"""The group-commit writer: results after the commit, one failing write never failing its
batch-mates, and a caller that gave up never written for."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.db.engine import Database, make_engine
from core.db.writer import Writer


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", immediate=True)  # as Database's
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    w = Writer(engine)
    yield w
    w.close()
    engine.dispose()


def insert(key: str) -> Callable[[Session], str]:
    def op(conn: Session) -> str:
        conn.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        return key

    return op


def hold(writer: Writer) -> threading.Event:
    """Keeps the writer busy until the returned event is set; returns once it is busy."""
    started, release = threading.Event(), threading.Event()

    def op(conn: Session) -> None:
        started.set()
        release.wait(5)

    writer.submit(op)
    assert started.wait(5)
    return release


def keys(writer: Writer) -> list[str]:
    return writer.run(lambda conn: [r.k for r in conn.execute(text("SELECT k FROM t ORDER BY k"))])


def test_many_writes_from_a_loop_resolve_in_few_batches(writer: Writer) -> None:
    async def main() -> list[str]:
        futures = [writer.submit_async(insert(f"k{i:03}")) for i in range(200)]
        return list(await asyncio.gather(*futures))

    assert asyncio.run(main()) == [f"k{i:03}" for i in range(200)]
    assert len(keys(writer)) == 200
    assert writer.batches < 200  # shared transactions, not one commit each


def test_a_failing_write_fails_alone(writer: Writer) -> None:
    writer.run(insert("taken"))
    release = hold(writer)  # so that the next ones form one batch

    async def main() -> list[str | BaseException]:
        futures = [writer.submit_async(insert(k)) for k in ("a", "taken", "b")]
        release.set()
        return await asyncio.gather(*futures, return_exceptions=True)

    a, taken, b = asyncio.run(main())
    assert (a, b) == ("a", "b")
    assert isinstance(taken, Exception) and "UNIQUE" in str(taken)
    assert keys(writer) == ["a", "b", "taken"]


def test_a_caller_that_gave_up_is_not_written_for(writer: Writer) -> None:
    release = hold(writer)
    ran: list[str] = []

    def op(conn: Session) -> None:
        ran.append("ran")

    async def main() -> None:
        task = asyncio.ensure_future(writer.submit_async(op))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()

    asyncio.run(main())
    writer.run(lambda conn: None)  # everything queued before has been handled
    assert ran == []


def test_a_loop_gone_before_its_results_does_not_stop_the_writer(writer: Writer) -> None:
    release = hold(writer)
    loop = asyncio.new_event_loop()

    async def submit() -> asyncio.Future[str]:
        return writer.submit_async(insert("orphan"))

    loop.run_until_complete(submit())
    loop.close()
    release.set()
    assert writer.run(insert("after")) == "after"
    assert keys(writer) == ["after", "orphan"]


def test_writes_arriving_meanwhile_share_the_next_commit(writer: Writer) -> None:
    release = hold(writer)
    busy = [writer.submit(insert(f"a{i}")) for i in range(3)]  # queue up behind it
    release.set()
    assert [future.result(5) for future in busy] == ["a0", "a1", "a2"]
    assert writer.batches == 2  # the held one alone, then the three together


def test_close_commits_what_is_queued(writer: Writer) -> None:
    release = hold(writer)
    queued = writer.submit(insert("queued"))
    release.set()
    writer.close()
    assert queued.result(0) == "queued"
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(insert("late"))


def test_a_batch_whose_commit_fails_is_never_reported_stored(tmp_path: Path) -> None:
    """The commit, not only an operation, can fail (here a deferred foreign key): every
    operation is then re-run alone, and only what really committed reports success."""
    engine = create_engine(f"sqlite:///{tmp_path / 'fk.db'}")

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (k TEXT PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (k TEXT PRIMARY KEY, p TEXT REFERENCES parent(k))"))
    writer = Writer(engine)

    def orphan(conn: Session) -> str:
        conn.execute(text("PRAGMA defer_foreign_keys=ON"))  # the violation surfaces at COMMIT
        conn.execute(text("INSERT INTO child (k, p) VALUES ('c', 'missing')"))
        return "orphan stored"

    def fine(conn: Session) -> str:
        conn.execute(text("INSERT INTO parent (k) VALUES ('p')"))
        return "parent stored"

    release = hold(writer)
    bad, good = writer.submit(orphan), writer.submit(fine)
    release.set()
    with pytest.raises(IntegrityError):
        bad.result(5)
    assert good.result(5) == "parent stored"
    rows = writer.run(lambda c: c.execute(text("SELECT count(*) FROM child")).scalar_one())
    writer.close()
    engine.dispose()
    assert rows == 0


def test_an_odd_exception_does_not_strand_its_batch_mates(writer: Writer) -> None:
    def odd(conn: Session) -> str:
        raise StopIteration("asyncio futures refuse this exception")

    async def main() -> list[str | BaseException]:
        release = hold(writer)
        futures = [writer.submit_async(odd), writer.submit_async(insert("mate"))]
        release.set()
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5)

    failed, mate = asyncio.run(main())
    assert isinstance(failed, RuntimeError) and mate == "mate"


@pytest.mark.parametrize("failure", ["raises", "violates a unique index", "cannot be UTF-8"])
def test_a_failing_write_costs_its_batch_mates_nothing(db: Database, failure: str) -> None:
    """On each database: the batch-mates of a failing write commit together, at most one re-run
    each; only the failing one is told it failed (before, they all re-ran one by one, a commit
    each)."""
    with db.write_engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k VARCHAR(20) PRIMARY KEY)"))
    db.run(insert("taken"))
    runs: Counter[str] = Counter()
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    event.listen(db.write_engine, "commit", committed)

    def counted(key: str) -> Callable[[Session], str]:
        def op(conn: Session) -> str:
            runs[key] += 1
            if key == "bad" and failure == "raises":
                raise ValueError("this write fails")
            value = {"violates a unique index": "taken", "cannot be UTF-8": "\ud800"}
            return insert(value.get(failure, key) if key == "bad" else key)(conn)

        return op

    writer = db.writer
    assert isinstance(writer, Writer)  # the group commit (the default on both databases)

    async def main() -> list[str | BaseException]:
        release = hold(writer)
        futures = [db.writer.submit_async(counted(k)) for k in ("a", "b", "bad", "c", "d")]
        release.set()
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)

    a, b, bad, c, d = asyncio.run(main())
    event.remove(db.write_engine, "commit", committed)
    assert (a, b, c, d) == ("a", "b", "c", "d")
    assert isinstance(bad, Exception)
    assert all(runs[k] <= 2 for k in "abcd"), runs
    assert len(commits) == 1  # the batch's (the held write ran no SQL): none per batch-mate
    assert keys(writer) == ["a", "b", "c", "d", "taken"]
