"""The SQLite group commit on the event loop: statements on the loop, the commit in a thread,
never waiting for a write lock held elsewhere, in order, and one failing write failing alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError

from core.db.engine import Database, make_engine
from core.db.loop_writer import LoopWriter
from core.db.writer import Writer


class Pair:
    """A loop writer and the thread writer it hands batches to, on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        url = f"sqlite:///{path}"
        self.thread_engine = make_engine(url, sqlite_synchronous="NORMAL", immediate=True)
        with self.thread_engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, k TEXT UNIQUE)"))
        self.fallback = Writer(self.thread_engine)
        loop_engine = make_engine(
            url, sqlite_synchronous="NORMAL", pool_size=1, immediate=True, busy_timeout_ms=0
        )
        self.writer = LoopWriter(loop_engine, self.fallback)

    def keys(self) -> list[str]:
        with self.thread_engine.connect() as conn:
            return [r.k for r in conn.execute(text("SELECT k FROM t ORDER BY n"))]

    def close(self) -> None:
        self.writer.close()
        self.fallback.close()
        self.thread_engine.dispose()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    p = Pair(tmp_path / "w.db")
    yield p
    p.close()


threads: list[int] = []


def insert(key: str) -> Callable[[Connection], str]:
    def op(conn: Connection) -> str:
        threads.append(threading.get_ident())
        conn.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        return key

    return op


def test_statements_run_on_the_loop_and_many_writes_share_few_commits(pair: Pair) -> None:
    threads.clear()

    async def main() -> list[str]:
        futures = [pair.writer.submit_async(insert(f"k{i:03}")) for i in range(200)]
        return list(await asyncio.gather(*futures))

    assert asyncio.run(main()) == [f"k{i:03}" for i in range(200)]
    assert set(threads) == {threading.get_ident()}  # this thread ran the loop
    assert pair.writer.batches == pair.writer.on_loop <= 2
    assert pair.keys() == [f"k{i:03}" for i in range(200)]


def test_a_failing_write_fails_alone(pair: Pair) -> None:
    async def main() -> list[str | BaseException]:
        futures = [
            pair.writer.submit_async(insert("a")),
            pair.writer.submit_async(insert("a")),  # violates the unique key
            pair.writer.submit_async(insert("b")),
        ]
        return await asyncio.gather(*futures, return_exceptions=True)

    first, dup, last = asyncio.run(main())
    assert (first, last) == ("a", "b")
    assert isinstance(dup, IntegrityError)
    assert pair.keys() == ["a", "b"]


def test_a_lock_held_elsewhere_never_blocks_the_loop(pair: Pair) -> None:
    """Another connection (a CLI, say) holds the write lock for 0.3 s: the batch goes to the
    thread writer, which waits for the lock; the loop keeps turning meanwhile; the writes
    submitted after it still commit after it."""
    holder = sqlite3.connect(pair.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, holder.execute, ["COMMIT"]).start()
    threads.clear()

    async def main() -> tuple[list[str], float]:
        first = pair.writer.submit_async(insert("while locked"))
        worst = 0.0
        while not first.done():
            started = time.monotonic()
            await asyncio.sleep(0.005)
            worst = max(worst, time.monotonic() - started)
        later = [pair.writer.submit_async(insert(f"after {i}")) for i in range(3)]
        return [await first, *await asyncio.gather(*later)], worst

    results, worst_turn = asyncio.run(main())
    holder.close()
    assert results == ["while locked", "after 0", "after 1", "after 2"]
    assert worst_turn < 0.2  # the loop never sat on the 0.3 s lock
    assert threads[0] != threading.get_ident()  # the locked batch ran in the thread writer
    assert pair.keys() == results
    assert pair.writer.on_loop == pair.writer.batches - 1


def test_no_second_batch_while_one_is_with_the_thread_writer(tmp_path: Path) -> None:
    """The thread writer has a handed-over batch queued but holds no lock (it is pacing a write
    of its own), so a second batch started on the loop meanwhile would commit first."""
    url = f"sqlite:///{tmp_path / 'o.db'}"
    thread_engine = make_engine(url, sqlite_synchronous="NORMAL", immediate=True)
    with thread_engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, k TEXT)"))
    fallback = Writer(thread_engine, pace=0.3)
    loop_engine = make_engine(
        url, sqlite_synchronous="NORMAL", pool_size=1, immediate=True, busy_timeout_ms=0
    )
    writer = LoopWriter(loop_engine, fallback)
    fallback.run(insert("direct 0"))
    fallback.submit(insert("direct 1"))  # the thread writer now waits out its pace, unlocked

    async def main() -> list[str]:
        first = writer.submit_async(insert("1"), bulk=True)  # queued behind "direct 1"
        await asyncio.sleep(0.05)
        second = writer.submit_async(insert("2"))
        return [await first, await second]

    assert asyncio.run(main()) == ["1", "2"]
    writer.close()
    fallback.close()
    with thread_engine.connect() as conn:
        keys = [r.k for r in conn.execute(text("SELECT k FROM t ORDER BY n"))]
    thread_engine.dispose()
    assert keys == ["direct 0", "direct 1", "1", "2"]


def _writer_task() -> asyncio.Task[Any]:
    (task,) = (t for t in asyncio.all_tasks() if t is not asyncio.current_task())
    return task


def test_a_batch_cancelled_with_the_thread_writer_leaves_both_writers_working(pair: Pair) -> None:
    """The loop ends (its tasks are cancelled) while a batch waits in the thread writer for a
    lock: the thread writer lives on, and later writes, bulk or not, are still made."""
    holder = sqlite3.connect(pair.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    async def main() -> list[str]:
        gone = pair.writer.submit_async(insert("a"))
        await asyncio.sleep(0.05)  # handed over: the thread writer waits for the lock
        _writer_task().cancel()
        await asyncio.sleep(0.05)
        assert gone.cancelled()
        holder.execute("COMMIT")
        later = [
            pair.writer.submit_async(insert("b"), bulk=True),
            pair.writer.submit_async(insert("c")),
        ]
        return list(await asyncio.wait_for(asyncio.gather(*later), 5))

    assert asyncio.run(main()) == ["b", "c"]
    holder.close()
    assert pair.fallback._thread.is_alive()
    assert pair.keys() == ["a", "b", "c"]  # "a" had begun: it was written (no ack was sent)


def test_the_commit_thread_alone_gives_its_connection_back(pair: Pair) -> None:
    """Cancelled while its commit runs, the batch leaves the connection to the commit thread:
    nothing on the loop rolls it back or returns it to the pool under the thread's feet."""
    seen: list[tuple[str, int, str]] = []

    @event.listens_for(pair.writer._engine, "commit")
    def _slow_commit(conn: Connection) -> None:  # stands in for a slow fsync
        dbapi_conn = conn.connection.dbapi_connection
        seen.append(("commit", id(dbapi_conn), threading.current_thread().name))
        time.sleep(0.3)

    @event.listens_for(pair.writer._engine.pool, "checkin")
    def _checkin(dbapi_conn: Any, record: Any) -> None:
        seen.append(("checkin", id(dbapi_conn), threading.current_thread().name))

    async def main() -> str:
        first = pair.writer.submit_async(insert("a"))
        await asyncio.sleep(0.05)  # committing in the commit thread
        _writer_task().cancel()
        await asyncio.sleep(0.01)
        assert first.cancelled()
        return await asyncio.wait_for(pair.writer.submit_async(insert("b")), 5)

    assert asyncio.run(main()) == "b"
    what, committed, commit_thread = seen[0]
    assert what == "commit" and commit_thread.startswith("kefu-commit")
    # The cancelled batch's connection came back from the commit thread, after its commit.
    assert next(e for e in seen if e[:2] == ("checkin", committed))[2] == commit_thread
    assert pair.keys() == ["a", "b"]


def test_a_new_loop_takes_over_from_one_that_ended_with_writes_queued(pair: Pair) -> None:
    async def first() -> None:
        await pair.writer.submit_async(insert("a"))
        pair.writer.submit_async(insert("never"))  # paced to 5 ms later: the loop ends first

    async def second() -> str:
        return await asyncio.wait_for(pair.writer.submit_async(insert("b")), 5)

    asyncio.run(first())
    assert asyncio.run(second()) == "b"
    assert pair.keys() == ["a", "b"]


def test_a_batch_whose_commit_fails_is_never_reported_stored(pair: Pair) -> None:
    with pair.thread_engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (k TEXT PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (k TEXT PRIMARY KEY, p TEXT REFERENCES parent(k))"))

    def orphan(conn: Connection) -> str:
        conn.execute(text("PRAGMA defer_foreign_keys=ON"))  # the violation surfaces at COMMIT
        conn.execute(text("INSERT INTO child (k, p) VALUES ('c', 'missing')"))
        return "orphan stored"

    async def main() -> list[str | BaseException]:
        futures = [pair.writer.submit_async(orphan), pair.writer.submit_async(insert("fine"))]
        return await asyncio.gather(*futures, return_exceptions=True)

    bad, good = asyncio.run(main())
    assert isinstance(bad, IntegrityError)
    assert good == "fine"
    with pair.thread_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM child")).scalar_one() == 0
    assert pair.keys() == ["fine"]


def test_a_caller_that_gave_up_is_not_written_for(pair: Pair) -> None:
    async def main() -> str:
        gone = pair.writer.submit_async(insert("gone"))
        gone.cancel()
        return await pair.writer.submit_async(insert("kept"))

    assert asyncio.run(main()) == "kept"
    assert pair.keys() == ["kept"]


def test_bulk_writes_run_in_the_thread_writer_in_their_turn(pair: Pair) -> None:
    threads.clear()

    async def main() -> list[str]:
        futures = [
            pair.writer.submit_async(insert("small")),
            pair.writer.submit_async(insert("bulk"), bulk=True),
            pair.writer.submit_async(insert("small again")),
        ]
        return list(await asyncio.gather(*futures))

    assert asyncio.run(main()) == ["small", "bulk", "small again"]
    me = threading.get_ident()
    assert [t == me for t in threads] == [True, False, True]
    assert pair.keys() == ["small", "bulk", "small again"]


def test_the_database_writes_sqlite_on_the_loop(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}", sqlite_synchronous="NORMAL")
    db.migrate()

    def where(conn: Connection) -> int:
        conn.execute(text("SELECT 1"))
        return threading.get_ident()

    async def main() -> list[int]:
        return [await db.write(where), await db.write(where, bulk=True)]

    on_loop, bulk = asyncio.run(main())
    db.close()
    assert on_loop == threading.get_ident()
    assert bulk != threading.get_ident()
