"""Heavy answering work off the event loop, in worker threads that licensees take turns on.

Retrieval is CPU work: done on the event loop, a flood of questions from one licensee delays
every other licensee's frames. Here each call waits in its licensee's own queue; a free worker
takes the next call of the licensee that has used the workers least (their CPU time), and one
licensee never holds more than ``per_licensee`` workers, so another licensee's call waits for the
calls running and those of licensees that used less, whatever one licensee has queued.

Threads, not processes: an index is used only in the process that built it (its feature ids are
Python string hashes), and NumPy releases the GIL for much of the scoring.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class FairQueue(Generic[K, T]):
    """Items queued per key; the next is taken from the key that has used the least work time so
    far (start-time fair queuing), equal ones in turn. A key holding ``limit`` taken items that
    are not yet ``done`` is skipped until one is.

    Turns by count were not enough: a 2,000-character question costs the pool more than a short
    one, so alternating calls gave a flooding licensee most of a worker's time. With one worker
    and the flood of bench/attack.py (item 5), the honest licensee's median was 1,124 ms with
    turns by count and 348 ms with turns by time (two runs a few minutes apart, load average 11
    to 12 on 2 cores: a rough figure, not an A/B in one run). A key that falls idle keeps its
    debt but saves up no credit: it comes back level with the least-used busy key."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._queues: dict[K, deque[T]] = {}
        self._taken: dict[K, int] = {}
        self._used: dict[K, float] = {}  # work seconds, of busy keys and of idle ones in debt
        self._turn: dict[K, int] = {}  # when a key was last taken (or queued): ties go in turn
        self._tick = 0
        self._now = 0.0  # virtual time: what the key taken last had used

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def put(self, key: K, item: T) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            if key not in self._taken:
                self._used[key] = max(self._used.get(key, self._now), self._now)
                self._turn[key] = self._next_tick()
        queue.append(item)

    def take(self) -> tuple[K, T] | None:
        """The oldest item of the key that has used least, or None when every key with items is
        at its limit."""
        best: K | None = None
        for key in self._queues:
            if self._taken.get(key, 0) >= self._limit:
                continue
            if best is None or (self._used[key], self._turn[key]) < (
                self._used[best],
                self._turn[best],
            ):
                best = key
        if best is None:
            return None
        queue = self._queues[best]
        item = queue.popleft()
        if not queue:
            del self._queues[best]
        self._taken[best] = self._taken.get(best, 0) + 1
        self._turn[best] = self._next_tick()
        self._now = max(self._now, self._used[best])
        return best, item

    def done(self, key: K, seconds: float = 0.0) -> None:
        """A taken item of ``key`` has finished, after ``seconds`` of work."""
        self._used[key] += seconds
        left = self._taken[key] - 1
        if left:
            self._taken[key] = left
            return
        del self._taken[key]
        if key not in self._queues and self._used[key] <= self._now:
            del self._used[key], self._turn[key]  # idle and owing nothing: forgotten

    def remove(self, key: K, item: T) -> bool:
        """Drop a queued item (its caller gave up); False when it was no longer queued."""
        queue = self._queues.get(key)
        if queue is None or item not in queue:
            return False
        queue.remove(item)
        if not queue:
            del self._queues[key]
            if key not in self._taken and self._used[key] <= self._now:
                del self._used[key], self._turn[key]
        return True

    def _next_tick(self) -> int:
        self._tick += 1
        return self._tick


@dataclass(eq=False)
class _Call:
    fn: Callable[[], Any]
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    seconds: float = 0.0  # the worker thread's CPU time for it

    def timed(self) -> Any:
        started = time.thread_time()
        try:
            return self.fn()
        finally:
            self.seconds = time.thread_time() - started


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
            done = asyncio.get_running_loop().run_in_executor(self._executor, call.timed)
            done.add_done_callback(functools.partial(self._finished, licensee_id, call))

    def _finished(self, licensee_id: str, call: _Call, done: asyncio.Future[Any]) -> None:
        self._running -= 1
        self._queue.done(licensee_id, call.seconds)
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
