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


def test_turns_follow_the_work_time_used_not_the_count_of_calls() -> None:
    """A licensee whose calls cost three times another's gets a third as many turns while both
    have calls queued; one that falls idle keeps its debt but saves up no credit."""
    queue: FairQueue[str, str] = FairQueue(limit=1)
    cost = {"flood": 3.0, "honest": 1.0, "late": 1.0}
    for i in range(20):
        queue.put("flood", f"f{i}")
        queue.put("honest", f"h{i}")
    order: list[str] = []
    for _ in range(16):
        taken = queue.take()
        assert taken is not None
        order.append(taken[1])
        queue.done(taken[0], cost[taken[0]])
    assert order[:9] == ["f0", "h0", "h1", "h2", "f1", "h3", "h4", "h5", "f2"]
    # A newcomer starts level with the least-used busy licensee, not at zero: it does not get
    # the workers to itself for what it did not use before.
    queue.put("late", "l0")
    queue.put("late", "l1")
    nxt = [queue.take() for _ in range(1)]
    assert nxt[0] is not None and nxt[0][0] in ("late", "honest")
    queue.done(nxt[0][0], 1.0)
    later = []
    for _ in range(6):
        taken = queue.take()
        assert taken is not None
        later.append(taken[0])
        queue.done(taken[0], cost[taken[0]])
    assert later.count("late") <= 2 and "honest" in later


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
    assert "h" in ran[:3]
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
