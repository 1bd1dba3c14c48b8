"""Group commit for SQLite on the event loop: statements in the loop, only the commit in a thread.

The thread ``Writer`` ran every statement of a batch in its own thread. SQLite releases the GIL
around each step, so every step of every statement handed the GIL between that thread and the
event loop; at 1,000 chat messages a second those hand-offs cost about a third of a core. Here
the loop itself runs a batch's statements (each a few microseconds on SQLite), inside a
transaction that already holds the write lock, and hands only the COMMIT, whose fsync is the slow
part, to a thread: one hand-off per batch, not several per statement.

The loop never waits for SQLite's write lock. Its connection has no busy timeout, so when another
connection (a CLI in another process, an operator's API call) holds the lock, ``BEGIN IMMEDIATE``
fails at once and that batch goes to the thread writer, which waits for the lock there. A batch
whose statements fail is rolled back and handed to the thread writer too, which re-runs each
operation in a transaction of its own, so one failing operation never fails its batch-mates.

One batch is in flight at a time, so operations commit in the order they were submitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

from core.db.writer import Op, Outcome, Writer, settle

T = TypeVar("T")
log = logging.getLogger("kefu.writer")

# A batch starts at most this often (seconds). Each batch costs the loop about 0.25 ms of CPU
# (begin, the hand-off of the commit and back, settling); at 1,000 chat messages a second, 5 ms
# rather than 2 ms took the server's CPU per message at saturation from 0.80-0.86 to 0.68-0.76 ms
# and p99 at 1,000/s from 156-321 to 71-104 ms (two A/B rounds), for at most 5 ms more per write.
PACE = 0.005


class LoopWriter:
    def __init__(
        self, engine: Engine, fallback: Writer, *, max_batch: int = 256, pace: float = PACE
    ) -> None:
        """``engine`` must begin with ``BEGIN IMMEDIATE`` and have no busy timeout;
        ``fallback`` is the thread writer that waits for a lock held elsewhere."""
        self._engine = engine
        self._fallback = fallback
        self._max_batch = max_batch
        self._pace = pace
        self._pending: deque[tuple[Op, bool]] = deque()  # with whether it is bulk
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = False  # a batch is between its first statement and its results
        self._scheduled = False
        self._last_start = -pace
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="kefu-commit")
        self._closed = False
        self.batches = 0  # counters for benchmarks and tests, not for billing
        self.on_loop = 0  # batches whose statements ran on the loop
        self.operations = 0

    def submit_async(
        self, fn: Callable[[Connection], T], *, bulk: bool = False
    ) -> asyncio.Future[T]:
        """Queue ``fn(conn)``; the future resolves after the transaction that ran it committed.
        A ``bulk`` operation (one that may touch thousands of rows) runs in the thread writer,
        in its turn, so that it never holds up the event loop.

        One event loop at a time uses a writer (a server has one). When that loop has closed,
        the next one takes the writer over; what was queued on the closed loop had nobody left
        to tell and is dropped, unwritten (its callers never saw an ack)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            busy = self._in_flight or self._pending
            if busy and self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("the writer is busy on another event loop")
            self._loop, self._pending = loop, deque()
            self._in_flight = self._scheduled = False
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((Op(fn, future), bulk))
        self._schedule()
        return future

    def close(self) -> None:
        """Stop taking writes; the engine, given to this writer, is disposed of."""
        self._closed = True
        self._committer.shutdown(wait=True)
        self._engine.dispose()

    def _schedule(self) -> None:
        if self._in_flight or self._scheduled or not self._pending:
            return
        assert self._loop is not None
        self._scheduled = True
        # Batches start at most every ``pace`` seconds, as in the thread writer: the writes
        # arriving meanwhile share one commit.
        wait = self._last_start + self._pace - self._loop.time()
        if wait > 0:
            self._loop.call_later(wait, self._start, self._loop)
        else:
            self._loop.call_soon(self._start, self._loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # scheduled on a loop that has since closed and been replaced
        self._scheduled = False
        if self._in_flight:
            return
        self._last_start = loop.time()
        batch: list[Op] = []
        bulk = False
        while self._pending and len(batch) < self._max_batch:
            op, op_bulk = self._pending[0]
            if batch and op_bulk != bulk:
                break  # bulk operations and the others go in batches of their own
            self._pending.popleft()
            bulk = op_bulk
            if op.claim():  # a caller that gave up is not written for
                batch.append(op)
        if not batch:
            self._schedule()
            return
        self._in_flight = True
        self.batches += 1
        self.operations += len(batch)
        task = loop.create_task(self._run(batch, bulk))
        task.add_done_callback(partial(self._finished, loop, batch))

    async def _run(self, batch: list[Op], bulk: bool) -> list[Outcome]:
        outcomes = True if bulk else await self._on_loop(batch)
        if isinstance(outcomes, list):
            return outcomes
        # The thread writer takes the batch over. Were this task cancelled (its loop ending),
        # the batch would be dropped if the thread has not begun it, and finished if it has.
        return await asyncio.wrap_future(self._fallback.submit_batch(batch, together=outcomes))

    def _finished(
        self, loop: asyncio.AbstractEventLoop, batch: list[Op], task: asyncio.Task[list[Outcome]]
    ) -> None:
        """On the loop, however the batch ended: its callers told, the next batch started."""
        if task.cancelled():
            for op in batch:
                op.future.cancel()
        elif (error := task.exception()) is not None:  # the writer's own failure
            log.error("a write batch failed", exc_info=error)
            settle([(op, None, error) for op in batch])
        else:
            settle(task.result())
        if loop is self._loop:
            self._in_flight = False
            if not loop.is_closed():
                self._schedule()

    async def _on_loop(self, batch: list[Op]) -> list[Outcome] | bool:
        """The batch's statements on the loop and its commit in a thread. Or, for the thread
        writer to take the batch over, whether it should still try the batch as one transaction:
        True when the write lock is held elsewhere, False when the batch failed (rolled back)."""
        conn = self._engine.connect()
        try:
            tx = conn.begin()
        except OperationalError:  # the write lock is held by another connection
            conn.close()
            log.debug("write lock busy, %d writes go to the thread writer", len(batch))
            return True
        try:
            results: list[Any] = [op.fn(conn) for op in batch]
        except Exception:
            tx.rollback()
            conn.close()
            log.debug("batch of %d failed, re-running one by one", len(batch), exc_info=True)
            return False
        # From here the connection is the commit thread's: it commits and gives the connection
        # back itself, so that nothing on the loop (a cancellation, say) touches it meanwhile.
        assert self._loop is not None
        if not await self._loop.run_in_executor(self._committer, _commit, conn, tx, len(batch)):
            return False
        self.on_loop += 1
        return [(op, r, None) for op, r in zip(batch, results, strict=True)]


def _commit(conn: Connection, tx: RootTransaction, size: int) -> bool:
    """In the commit thread: whether the transaction committed; the connection is closed
    (given back to its pool, rolled back if still open) either way."""
    try:
        tx.commit()
    except Exception:
        log.debug("commit of %d writes failed, re-running", size, exc_info=True)
        return False
    finally:
        conn.close()
    return True
