"""Group commit: one writer thread runs queued write operations in shared transactions.

A conversation is billable only once it is durable, and each commit costs an fsync; batching
every operation that arrived while the previous commit was flushing gives durability at the
rate of many units per fsync. A failing operation never takes its batch-mates down: the batch
is rolled back and each operation re-run in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
log = logging.getLogger("kefu.writer")


@dataclass(slots=True)
class Op:
    fn: Callable[[Connection], Any]
    future: Future[Any] | asyncio.Future[Any]  # a thread's, or a coroutine's on its loop

    def claim(self) -> bool:
        """Whether the caller still waits. A caller that gave up (its task was cancelled, e.g.
        the socket closed) never saw an ack, so its write is skipped. A thread's future can no
        longer be cancelled once claimed; a task cancelled just after the claim leaves a write it
        never acknowledged, which the client's retry with the same id finds (exactly once)."""
        if isinstance(self.future, Future):
            return self.future.set_running_or_notify_cancel()
        return not self.future.cancelled()


Outcome = tuple[Op, Any, BaseException | None]


def settle(outcomes: list[Outcome]) -> None:
    """On the caller's event loop: resolve the futures of one batch, those still waited for.
    One future's trouble never leaves the others of its batch waiting."""
    for op, result, error in outcomes:
        if op.future.done():
            continue
        if isinstance(error, StopIteration):  # an asyncio future refuses this one
            error = RuntimeError(f"write raised StopIteration: {error!r}")
        try:
            if error is None:
                op.future.set_result(result)
            else:
                op.future.set_exception(error)
        except Exception:  # pragma: no cover - resolved meanwhile (cancelled on its loop)
            log.debug("a write's caller had already gone", exc_info=True)


@dataclass(slots=True)
class _Handover:
    ops: list[Op]
    together: bool
    future: Future[list[Outcome]]

    def run(self, outcomes: Callable[[list[Op], bool], list[Outcome]]) -> None:
        # A handover its writer gave up on before it began (its loop ended) is not written;
        # once begun it can no longer be cancelled, and its outcomes are always set.
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = outcomes(self.ops, self.together)
        except BaseException as exc:  # pragma: no cover - the writer's own failure
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


_STOP = object()
# A batch starts at most this often (seconds), so commits are at most 500 a second; a commit
# costs about 0.25 ms of CPU (SQLite with synchronous=FULL). At 1,000 chat messages a second this
# measured about 5 % less server CPU per message than no pacing, for at most 2 ms more until an
# ack; 5 and 10 ms gained little more.
PACE = 0.002


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 256,
        pace: float = PACE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pace = pace
        self._sleep = sleep
        self._clock = clock
        self._last_start = -pace  # when the last batch began to run
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kefu-writer", daemon=True)
        self._closed = False
        self.batches = 0  # counters for benchmarks and health, not for billing
        self.operations = 0
        self._thread.start()

    def submit(self, fn: Callable[[Connection], T]) -> Future[T]:
        """Queue ``fn(conn)``; the future resolves after the transaction that ran it committed."""
        if self._closed:
            raise RuntimeError("writer is closed")
        future: Future[T] = Future()
        self._queue.put(Op(fn, future))
        return future

    def submit_async(self, fn: Callable[[Connection], T]) -> asyncio.Future[T]:
        """``submit`` for a coroutine on the running event loop: an asyncio future, resolved
        with the rest of its batch in one call onto the loop."""
        if self._closed:
            raise RuntimeError("writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(Op(fn, future))
        return future

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Submit and wait (for callers that are threads, e.g. the CLI)."""
        return self.submit(fn).result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    def submit_batch(self, ops: list[Op], *, together: bool) -> Future[list[Outcome]]:
        """Run operations another writer already claimed (``LoopWriter`` when the write lock is
        held elsewhere, or when its batch failed); their outcomes come back in one future,
        unsettled. ``together`` first tries them in one transaction, as a batch."""
        if self._closed:
            raise RuntimeError("writer is closed")
        handover = _Handover(ops, together, Future())
        self._queue.put(handover)
        return handover.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if isinstance(first, _Handover):
                first.run(self._outcomes)
                continue
            # Batches start at most every ``pace`` seconds: under a steady stream of writes
            # the ones arriving meanwhile share a commit instead of paying for one each.
            wait = self._last_start + self._pace - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._last_start = self._clock()
            batch: list[Op] = [first]
            after: Any = None  # a stop or a handover, run after this batch
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP or isinstance(item, _Handover):
                    after = item
                    break
                batch.append(item)
            self._commit(batch)
            if after is _STOP:
                return
            if after is not None:
                after.run(self._outcomes)

    def _commit(self, batch: list[Op]) -> None:
        batch = [op for op in batch if op.claim()]
        if not batch:
            return
        self.batches += 1
        self.operations += len(batch)
        self._deliver(self._outcomes(batch, together=True))

    def _outcomes(self, batch: list[Op], together: bool) -> list[Outcome]:
        if together and len(batch) > 1:
            try:
                with self._engine.begin() as conn:
                    results = [op.fn(conn) for op in batch]
            except Exception:  # an operation, or the commit itself, failed
                log.debug("batch of %d failed, re-running one by one", len(batch), exc_info=True)
            else:  # only a committed batch reports its results
                return [(op, r, None) for op, r in zip(batch, results, strict=True)]
        return [self._commit_one(op) for op in batch]

    def _commit_one(self, op: Op, attempts: int = 3) -> Outcome:
        for attempt in range(attempts):
            try:
                with self._engine.begin() as conn:
                    result = op.fn(conn)
            except DBAPIError as exc:
                # Another process may have won a race on a unique index (two servers on one
                # PostgreSQL): re-running reads the winner's row and continues from there.
                if attempt + 1 < attempts and not exc.connection_invalidated:
                    continue
                return op, None, exc
            except BaseException as exc:
                return op, None, exc
            return op, result, None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _deliver(outcomes: list[Outcome]) -> None:
        """Threads' futures at once; each event loop's in one call, not one wake-up per op."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            op = outcome[0]
            if isinstance(op.future, Future):
                settle([outcome])
            else:
                by_loop.setdefault(op.future.get_loop(), []).append(outcome)
        for loop, theirs in by_loop.items():
            try:
                loop.call_soon_threadsafe(settle, theirs)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                log.debug("event loop closed before %d writes were acknowledged", len(theirs))
