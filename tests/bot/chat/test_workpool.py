"""The work pool: answers' CPU work off the event loop, licensees taking turns."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from bot.chat.workpool import FairQueue, WorkPool

pytestmark = pytest.mark.anyio


def drain(queue: FairQueue[str, str]) -> list[str]:
    """Everything queued, in the order it is taken, each finishing before the next is taken."""
    order: list[str] = []
    while (taken := queue.take()) is not None:
        key, item = taken
        order.append(item)
        queue.done(key)
    return order


def test_licensees_take_turns_whatever_one_has_queued() -> None:
    queue: FairQueue[str, str] = FairQueue(limit=1)
    for i in range(100):
        queue.put("flood", f"f{i}")
    queue.put("honest", "h0")
    queue.put("other", "o0")
    queue.put("honest", "h1")
    order = drain(queue)
    # Each of the others waits for at most one of the flood's calls per call of its own.
    assert order[:6] == ["f0", "h0", "o0", "f1", "h1", "f2"]
    assert order[6:] == [f"f{i}" for i in range(3, 100)]


def test_a_licensee_at_its_limit_is_passed_over_until_one_finishes() -> None:
    queue: FairQueue[str, str] = FairQueue(limit=1)
    for i in range(3):
        queue.put("flood", f"f{i}")
    assert queue.take() == ("flood", "f0")
    assert queue.take() is None  # f0 still running: the flood gets no second worker
    queue.put("honest", "h0")
    assert queue.take() == ("honest", "h0")
    queue.done("flood")
    assert queue.take() == ("flood", "f1")
    assert len(queue) == 1


def test_a_removed_call_is_never_taken() -> None:
    queue: FairQueue[str, str] = FairQueue(limit=2)
    queue.put("a", "a0")
    queue.put("b", "b0")
    assert queue.remove("a", "a0") and not queue.remove("a", "a0")
    assert drain(queue) == ["b0"]


async def test_a_flood_does_not_hold_up_another_licensees_call() -> None:
    """One worker: the other licensee's call waits for the flood's running call and at most one
    more (the flood's turn came before it arrived), never for the flood's queue."""
    pool = WorkPool(workers=1, per_licensee=1)
    gate = threading.Event()
    ran: list[str] = []

    def work(name: str) -> str:
        if name == "f0":
            gate.wait(10)
        ran.append(name)
        return name

    flood = [
        asyncio.create_task(pool.run("flood", functools.partial(work, f"f{i}"))) for i in range(30)
    ]
    await asyncio.sleep(0)  # every flood call queued before the honest one
    honest = asyncio.create_task(pool.run("honest", lambda: work("h")))
    await asyncio.sleep(0)
    gate.set()
    assert await honest == "h"
    await asyncio.gather(*flood)
    assert ran[:4] == ["f0", "f1", "h", "f2"]
    pool.close()


async def test_a_flood_never_takes_every_worker() -> None:
    """Two workers, one each at most: another licensee is served while the flood's call hangs."""
    pool = WorkPool(workers=2, per_licensee=1)
    gate = threading.Event()
    flood = [asyncio.create_task(pool.run("flood", lambda: gate.wait(10))) for _ in range(10)]
    await asyncio.sleep(0)
    assert await asyncio.wait_for(pool.run("honest", lambda: threading.get_ident()), 5) != (
        threading.get_ident()  # and not on the event loop's thread
    )
    gate.set()
    assert all(await asyncio.gather(*flood))
    pool.close()


async def test_errors_reach_the_caller_and_a_cancelled_queued_call_never_runs() -> None:
    pool = WorkPool(workers=1, per_licensee=1)
    gate = threading.Event()
    ran: list[int] = []

    def boom() -> None:
        raise ValueError("bad")

    first = asyncio.create_task(pool.run("a", lambda: gate.wait(10)))
    queued = asyncio.create_task(pool.run("a", lambda: ran.append(1)))
    await asyncio.sleep(0)
    queued.cancel()
    gate.set()
    assert await first
    with pytest.raises(ValueError, match="bad"):
        await pool.run("a", boom)
    assert await pool.run("a", lambda: 7) == 7
    assert queued.cancelled() and ran == []
    pool.close()
