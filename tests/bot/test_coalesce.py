"""Streamed pieces become few frames: the first at once, the rest merged by time window."""

from __future__ import annotations

import asyncio

import pytest

from bot.coalesce import DeltaCoalescer

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_first_piece_is_sent_at_once_then_pieces_merge_within_the_window() -> None:
    sent: list[str] = []
    clock = Clock()

    async def send(text: str) -> None:
        sent.append(text)

    c = DeltaCoalescer(send, window=0.04, clock=clock)
    await c.add("Hel")
    assert sent == ["Hel"]  # never delayed
    await c.add("lo")
    clock.now += 0.01
    await c.add(", ")
    assert sent == ["Hel"]  # merged while inside the window
    clock.now += 0.05
    await c.add("wor")
    assert sent == ["Hel", "lo, wor"]
    await c.add("ld")
    await c.add("")
    await c.flush()
    await c.flush()  # nothing pending: no empty frame
    assert sent == ["Hel", "lo, wor", "ld"]
    assert "".join(sent) == "Hello, world" and c.frames == 3


async def test_an_answer_ready_at_once_is_two_frames() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    c = DeltaCoalescer(send, clock=Clock())
    for piece in ["一，", "二，", "三。", "四"]:
        await c.add(piece)
    await c.flush()
    assert sent == ["一，", "二，三。四"]


async def test_a_pause_does_not_hold_back_what_was_said() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    c = DeltaCoalescer(send, window=0.02)
    await c.add("A")
    await c.add("B")  # inside the window: held
    assert sent == ["A"]
    await asyncio.sleep(0.08)  # the model pauses; the timer sends what is pending
    assert sent == ["A", "B"]
    await c.add("C")  # the window has passed: at once
    assert sent == ["A", "B", "C"]
    await c.close()
    assert c.frames == 3


async def test_discard_drops_pending_pieces_and_their_timer() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    c = DeltaCoalescer(send, window=0.02)
    await c.add("partial ")
    await c.add("answer")
    c.discard()
    await asyncio.sleep(0.05)
    assert sent == ["partial "]
    await c.add("new")
    await c.close()
    assert sent == ["partial ", "new"]
