"""The group-commit writer seen from an event loop: results after the commit, one failing
operation never failing its batch-mates, and a caller that gave up never written for."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from core.writer import Writer


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    w = Writer(engine)
    yield w
    w.close()
    engine.dispose()


def insert(key: str) -> Callable[[Connection], str]:
    def op(conn: Connection) -> str:
        conn.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        return key

    return op


def hold(writer: Writer) -> threading.Event:
    """Keeps the writer busy until the returned event is set; returns once it is busy."""
    started, release = threading.Event(), threading.Event()

    def op(conn: Connection) -> None:
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

    def op(conn: Connection) -> None:
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


def paced_writer(tmp_path: Path, waits: list[float]) -> Writer:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    return Writer(engine, pace=0.5, sleep=waits.append)


def test_a_lone_write_starts_at_once(tmp_path: Path) -> None:
    waits: list[float] = []
    writer = paced_writer(tmp_path, waits)
    for i in range(5):
        writer.run(insert(f"k{i}"))
    writer.close()
    assert waits == []  # one at a time: nothing to wait for


def test_under_load_a_batch_waits_for_company_at_most_the_pace(tmp_path: Path) -> None:
    waits: list[float] = []
    writer = paced_writer(tmp_path, waits)
    release = hold(writer)
    busy = [writer.submit(insert(f"a{i}")) for i in range(3)]  # queue up behind it
    release.set()
    for future in busy:
        future.result(5)
    assert writer.batches == 2  # the held one alone, then the three together
    writer.run(insert("next"))  # the last batch had company: this one is paced
    writer.close()
    assert len(waits) == 1 and 0 < waits[0] <= 0.5
