"""Group commit, the one write path: a thread runs queued writes in shared ORM sessions.

A write is a function of a SQLModel ``Session``. Its caller hears back only once the
transaction that ran it has committed, so a conversation is billable and a message can be
acknowledged only once it is durable (PRODUCT.md rule 4). Each commit costs an fsync and a
``BEGIN``; the writes that arrive while one batch commits go together in the next.

Why a group commit and not a transaction per write: on SQLite with ``synchronous=FULL`` it
recorded 1,948-3,874 new conversations a second against 149-635 for a transaction per write in
a thread (4-17x), and only it met the 2,000 a second one process must take
(``bench/conversation_rate.py``, two runs on 2026-12-06, a busy 2-core machine; see
docs/benchmarks.md).

A failing write never takes its batch-mates down: its batch runs again with each write in a
savepoint, so the failing one is rolled back alone and the others commit together.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

T = TypeVar("T")
log = logging.getLogger("kefu.writer")

Write = Callable[[Session], T]


@dataclass(slots=True)
class _Op:
    fn: Callable[[Session], Any]
    future: Future[Any] | asyncio.Future[Any]  # a thread's, or a coroutine's on its loop

    def claim(self) -> bool:
        """Whether the caller still waits. A caller that gave up (its task was cancelled, e.g.
        the socket closed) never saw an ack, so its write is skipped. A thread's future can no
        longer be cancelled once claimed; a task cancelled just after the claim leaves a write it
        never acknowledged, which the client's retry with the same id finds (exactly once)."""
        if isinstance(self.future, Future):
            return self.future.set_running_or_notify_cancel()
        return not self.future.cancelled()


_Outcome = tuple[_Op, Any, BaseException | None]


def _settle(outcomes: list[_Outcome]) -> None:
    """Resolve the futures of one batch (on their event loop for coroutines). One future's
    trouble never leaves the others of its batch waiting."""
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


_STOP = object()


class Writer:
    """One thread that commits the queued writes, as many together as are waiting."""

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kefu-writer", daemon=True)
        self._closed = False
        self.batches = 0  # counters for benchmarks and health, not for billing
        self.operations = 0
        self._thread.start()

    def submit(self, fn: Write[T]) -> Future[T]:
        """Queue ``fn(session)``; the future resolves after its transaction committed."""
        if self._closed:
            raise RuntimeError("writer is closed")
        future: Future[T] = Future()
        self._queue.put(_Op(fn, future))
        return future

    def submit_async(self, fn: Write[T]) -> asyncio.Future[T]:
        """``submit`` for a coroutine: an asyncio future on the running loop, resolved with the
        rest of its batch in one call onto the loop."""
        if self._closed:
            raise RuntimeError("writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Op(fn, future))
        return future

    def run(self, fn: Write[T]) -> T:
        """Submit and wait (for callers that are threads, e.g. the CLI)."""
        return self.submit(fn).result()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Op] = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit([op for op in batch if op.claim()])
            if stop:
                return

    def _commit(self, batch: list[_Op]) -> None:
        if not batch:
            return
        self.batches += 1
        self.operations += len(batch)
        outcomes = self._commit_batch(batch) if len(batch) > 1 else None
        self._deliver(outcomes or [self._commit_one(op) for op in batch])

    def _commit_batch(self, batch: list[_Op]) -> list[_Outcome] | None:
        """One transaction for the batch. When a write in it fails, the batch runs again, still
        in one transaction, with each write in a savepoint of its own: the failing one is rolled
        back alone and its batch-mates commit together (re-running them one by one cost each
        a commit, so one client sending writes that fail slowed every other licensee's acks).
        Savepoints only then: they cost half to two thirds of the group commit's rate. None when
        the transaction itself failed: then every write is re-run alone."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                results = [op.fn(session) for op in batch]
        except Exception:  # a write, or the commit itself, failed
            log.debug("batch of %d failed, re-running in savepoints", len(batch), exc_info=True)
        else:  # only a committed batch reports its results
            return [(op, r, None) for op, r in zip(batch, results, strict=True)]
        return self._commit_isolated(batch)

    def _commit_isolated(self, batch: list[_Op]) -> list[_Outcome] | None:
        """The batch with each write in a savepoint; a write that lost a race on a unique index
        is re-run alone afterwards, where it reads the winner's row."""
        outcomes: list[_Outcome] = []
        raced: list[_Op] = []
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                for op in batch:
                    try:
                        with session.begin_nested():
                            result = op.fn(session)
                    except DBAPIError as exc:
                        if exc.connection_invalidated:
                            raise
                        raced.append(op)
                    except Exception as exc:
                        outcomes.append((op, None, exc))
                    else:
                        outcomes.append((op, result, None))
        except Exception:  # the connection, or the commit itself, failed
            log.debug("batch of %d failed, re-running one by one", len(batch), exc_info=True)
            return None
        return outcomes + [self._commit_one(op) for op in raced]

    def _commit_one(self, op: _Op, attempts: int = 3) -> _Outcome:
        for attempt in range(attempts):
            try:
                with Session(self._engine, expire_on_commit=False) as session, session.begin():
                    result = op.fn(session)
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
    def _deliver(outcomes: list[_Outcome]) -> None:
        """Threads' futures at once; each event loop's in one call, not one wake-up per op."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            op = outcome[0]
            if isinstance(op.future, Future):
                _settle([outcome])
            else:
                by_loop.setdefault(op.future.get_loop(), []).append(outcome)
        for loop, theirs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, theirs)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                log.debug("event loop closed before %d writes were acknowledged", len(theirs))


class PooledWriter:
    """PostgreSQL's alternative: each write its own transaction, ``threads`` of them at once on
    pooled connections. PostgreSQL runs concurrent transactions in parallel (one backend each)
    where SQLite has one writer, so writes scale with connections, not with one thread.
    Same interface and guarantees as ``Writer``: a caller hears back once its write committed;
    a write that lost a race on a unique index to another process is re-run and reads the
    winner's row."""

    def __init__(self, engine: Engine, *, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._engine = engine
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="kefu-writer")
        self._closed = False
        self.batches = 0  # one per write: the counters ``Writer`` keeps, for benchmarks
        self.operations = 0

    def _one(self, fn: Write[T]) -> T:
        self.batches += 1
        self.operations += 1
        for attempt in range(3):
            try:
                with Session(self._engine, expire_on_commit=False) as session, session.begin():
                    return fn(session)
            except DBAPIError as exc:
                if attempt + 1 < 3 and not exc.connection_invalidated:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def submit(self, fn: Write[T]) -> Future[T]:
        if self._closed:
            raise RuntimeError("writer is closed")
        return self._pool.submit(self._one, fn)

    def submit_async(self, fn: Write[T]) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("writer is closed")
        return asyncio.wrap_future(self.submit(fn))

    def run(self, fn: Write[T]) -> T:
        return self.submit(fn).result()

    def close(self) -> None:
        """Commit what is queued, then stop the threads."""
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
