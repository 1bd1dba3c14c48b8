"""Heavy answering work off the event loop, in worker threads that licensees take turns on.

Retrieval is CPU work: done on the event loop, a flood of questions from one licensee delays
every other licensee's frames. Here each call waits in its licensee's own queue; a free worker
takes the next call from the licensees in turn (round robin), and one licensee never holds more
than ``per_licensee`` workers, so another licensee's call waits for at most one call of each
licensee ahead of it in the turn, whatever one licensee has queued.

Threads, not processes: an index is used only in the process that built it (its feature ids are
Python string hashes), and NumPy releases the GIL for much of the scoring.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class FairQueue(Generic[K, T]):
    """Items queued per key, taken from the keys in turn; a key holding ``limit`` taken items
    that are not yet ``done`` is skipped until one is."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._queues: dict[K, deque[T]] = {}
        self._turn: deque[K] = deque()  # keys with queued items, next first
        self._taken: dict[K, int] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def put(self, key: K, item: T) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._turn.append(key)
        queue.append(item)

    def take(self) -> tuple[K, T] | None:
        """The next key's oldest item, or None when every key with items is at its limit."""
        for _ in range(len(self._turn)):
            key = self._turn.popleft()
            if self._taken.get(key, 0) >= self._limit:
                self._turn.append(key)
                continue
            queue = self._queues[key]
            item = queue.popleft()
            if queue:
                self._turn.append(key)  # to the back of the turn: the others go first
            else:
                del self._queues[key]
            self._taken[key] = self._taken.get(key, 0) + 1
            return key, item
        return None

    def done(self, key: K) -> None:
        """A taken item of ``key`` has finished."""
        left = self._taken[key] - 1
        if left:
            self._taken[key] = left
        else:
            del self._taken[key]

    def remove(self, key: K, item: T) -> bool:
        """Drop a queued item (its caller gave up); False when it was no longer queued."""
        queue = self._queues.get(key)
        if queue is None or item not in queue:
            return False
        queue.remove(item)
        if not queue:
            del self._queues[key]
            self._turn.remove(key)
        return True


@dataclass(eq=False)
class _Call:
    fn: Callable[[], Any]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class WorkPool:
    """Runs blocking calls in ``workers`` threads, licensees taking turns (see the module)."""

    def __init__(self, workers: int = 2, per_licensee: int = 1) -> None:
        self._workers = workers
        self._queue: FairQueue[str, _Call] = FairQueue(per_licensee)
        self._running = 0
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, licensee_id: str, fn: Callable[[], T]) -> T:
        call = _Call(fn)
        self._queue.put(licensee_id, call)
        self._dispatch()
        try:
            result: T = await asyncio.shield(call.future)
        except asyncio.CancelledError:
            # Still queued: it never runs. Already running: it finishes and is dropped.
            if self._queue.remove(licensee_id, call):
                call.future.cancel()
            raise
        return result

    def _dispatch(self) -> None:
        while self._running < self._workers:
            taken = self._queue.take()
            if taken is None:
                return
            licensee_id, call = taken
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="kefu-work")
            self._running += 1
            done = asyncio.get_running_loop().run_in_executor(self._executor, call.fn)
            done.add_done_callback(functools.partial(self._finished, licensee_id, call))

    def _finished(self, licensee_id: str, call: _Call, done: asyncio.Future[Any]) -> None:
        self._running -= 1
        self._queue.done(licensee_id)
        if not call.future.done():
            if done.cancelled():
                call.future.cancel()
            elif (exc := done.exception()) is not None:
                call.future.set_exception(exc)
            else:
                call.future.set_result(done.result())
        if not call.future.cancelled():
            call.future.exception()  # nobody may be waiting any more: never "never retrieved"
        self._dispatch()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
