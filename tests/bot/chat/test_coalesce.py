"""Streamed pieces become few frames: the first on the next turn of the event loop (with what
arrived in the same turn), the rest merged by time window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.chat.coalesce import DeltaCoalescer

pytestmark = pytest.mark.anyio


class Clock:
    """The coalescer's clock and its timers: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self._timers: list[FakeTimer] = []

    def __call__(self) -> float:
        return self.now

    def call_later(self, wait: float, fn: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.now + wait, fn)
        self._timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time on, fire the timers due by then, and let the frames they start go."""
        self.now += seconds
        due = sorted((t for t in self._timers if t.at <= self.now), key=lambda t: t.at)
        self._timers = [t for t in self._timers if t.at > self.now]
        for timer in due:
            if not timer.cancelled:
                timer.fn()
        await turns(3)


@dataclass
class FakeTimer:
    at: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class Sent(list[str]):
    """The frames a coalescer sent, in order; ``send`` is what it calls."""

    async def send(self, text: str) -> None:
        self.append(text)


async def turns(n: int = 2) -> None:
    """Let the event loop run: a scheduled send, then the task that sends."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_first_piece_goes_on_the_next_turn_then_pieces_merge_within_the_window() -> None:
    sent = Sent()
    clock = Clock()

    c = DeltaCoalescer(sent.send, window=0.04, clock=clock)
    await c.add("Hel")
    await turns()
    assert sent == ["Hel"]  # never held for the window
    await c.add("lo")
    clock.now += 0.01
    await c.add(", ")
    await turns()
    assert sent == ["Hel"]  # merged while inside the window
    clock.now += 0.05
    await c.add("wor")
    await turns()
    assert sent == ["Hel", "lo, wor"]
    await c.add("ld")
    await c.add("")
    await c.flush()
    await c.flush()  # nothing pending: no empty frame
    assert sent == ["Hel", "lo, wor", "ld"]
    assert "".join(sent) == "Hello, world" and c.frames == 3


async def test_an_answer_ready_at_once_is_one_frame() -> None:
    sent = Sent()

    c = DeltaCoalescer(sent.send, clock=Clock())
    for piece in ["一，", "二，", "三。", "四"]:
        await c.add(piece)
    await c.close()
    assert sent == ["一，二，三。四"]


def coalescer(sent: Sent, window: float) -> tuple[DeltaCoalescer, Clock]:
    clock = Clock()
    return DeltaCoalescer(sent.send, window, clock=clock, call_later=clock.call_later), clock


async def test_pieces_of_one_turn_go_together_and_the_next_waits_for_the_window() -> None:
    sent = Sent()
    c, clock = coalescer(sent, window=0.03)
    await c.add("A")
    await c.add("B")
    await clock.advance(0)
    assert sent == ["AB"]
    await c.add("C")
    await clock.advance(0.02)
    assert sent == ["AB"]  # inside the window
    await clock.advance(0.01)
    assert sent == ["AB", "C"]
    await c.close()
    assert sent == ["AB", "C"]


async def test_a_pause_does_not_hold_back_what_was_said() -> None:
    sent = Sent()
    c, clock = coalescer(sent, window=0.02)
    await c.add("A")
    await clock.advance(0)
    await c.add("B")  # inside the window: held
    await clock.advance(0)
    assert sent == ["A"]
    await clock.advance(0.02)  # the model pauses; the timer sends what is pending
    assert sent == ["A", "B"]
    await clock.advance(0.03)
    await c.add("C")  # the window has passed: on the next turn
    await clock.advance(0)
    assert sent == ["A", "B", "C"]
    await c.close()
    assert c.frames == 3


async def test_discard_drops_pending_pieces_and_their_timer() -> None:
    sent = Sent()
    c, clock = coalescer(sent, window=0.02)
    await c.add("partial ")
    await clock.advance(0)
    await c.add("answer")
    c.discard()
    await clock.advance(0.05)
    assert sent == ["partial "]
    await c.add("new")
    await c.close()
    assert sent == ["partial ", "new"]
