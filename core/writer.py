"""Group commit: one writer thread runs queued write operations in shared transactions.

A conversation is billable only once it is durable, and each commit costs an fsync; batching
every operation that arrived while the previous commit was flushing gives durability at the
rate of many units per fsync. A failing operation never takes its batch-mates down: the batch
is rolled back and each operation re-run in a transaction of its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
log = logging.getLogger("kefu.writer")


@dataclass(slots=True)
class _Op:
    fn: Callable[[Connection], Any]
    future: Future[Any]


_STOP = object()


class Writer:
    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
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
        self._queue.put(_Op(fn, future))
        return future

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Submit and wait (for callers that are threads, e.g. the CLI)."""
        return self.submit(fn).result()

    def close(self) -> None:
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
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Op]) -> None:
        # A caller that gave up (its task was cancelled, e.g. the socket closed) never saw an
        # ack, so its write is skipped; once claimed here, a future can no longer be cancelled.
        batch = [op for op in batch if op.future.set_running_or_notify_cancel()]
        if not batch:
            return
        self.batches += 1
        self.operations += len(batch)
        if len(batch) > 1:
            try:
                with self._engine.begin() as conn:
                    results = [op.fn(conn) for op in batch]
            except Exception:
                log.debug("batch of %d failed, re-running one by one", len(batch), exc_info=True)
            else:
                for op, result in zip(batch, results, strict=True):
                    op.future.set_result(result)
                return
        for op in batch:
            self._commit_one(op)

    def _commit_one(self, op: _Op, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                with self._engine.begin() as conn:
                    result = op.fn(conn)
            except DBAPIError as exc:
                # Another process may have won a race on a unique index (two servers on one
                # PostgreSQL): re-running reads the winner's row and continues from there.
                if attempt + 1 < attempts and not exc.connection_invalidated:
                    continue
                op.future.set_exception(exc)
                return
            except BaseException as exc:
                op.future.set_exception(exc)
                return
            op.future.set_result(result)
            return
