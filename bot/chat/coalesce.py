"""Coalescing of streamed answer pieces into few ``reply.delta`` frames.

Every frame costs a serialisation, a WebSocket frame and a socket write on the event loop; an
answer arriving as many small pieces would spend more on framing than on answering. The first
piece goes out on the next turn of the event loop, with whatever else arrived in the same turn
(an answer that is ready at once, such as a knowledge-base answer, is one frame); later pieces
are merged until ``window`` seconds have passed since the last frame. A timer sends what is
pending when the window closes, so a piece never waits for the next one (a model that pauses
mid-answer does not hold back what it already said), and the rest goes out at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

DEFAULT_WINDOW = 0.04


class Timer(Protocol):
    def cancel(self) -> None: ...


# Call a function after so many seconds (the event loop's ``call_later`` unless a test's own).
CallLater = Callable[[float, Callable[[], None]], Timer]


class DeltaCoalescer:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater | None = None,
    ) -> None:
        """``clock`` and ``call_later`` must agree on what a second is (both the event loop's
        by default, both a test's own otherwise)."""
        self._send = send
        self._window = window
        self._clock = clock
        self._call_later = call_later
        self._pending: list[str] = []
        self._last: float | None = None
        self._timer: Timer | None = None
        self._timer_now = False  # the timer is for the next turn, not for the window's end
        self._timed: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # frames leave in order, one at a time
        self.frames = 0

    async def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        wait = 0.0 if self._last is None else self._window - (self._clock() - self._last)
        if wait <= 0:
            # Due now: on the next turn, unless that is already arranged.
            if self._timer is None or not self._timer_now:
                self._cancel_timer()
                self._start_timer(0.0)
        elif self._timer is None:
            self._start_timer(wait)

    def _start_timer(self, wait: float) -> None:
        self._timer_now = wait <= 0
        if self._call_later is not None:
            self._timer = self._call_later(wait, self._on_timer)
            return
        loop = asyncio.get_running_loop()
        if wait <= 0:
            self._timer = loop.call_soon(self._on_timer)
        else:
            self._timer = loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timed = asyncio.ensure_future(self.flush())
        self._timed.add_done_callback(_retrieve)

    async def flush(self) -> None:
        """Send what is pending as one frame (call it once more before the answer ends)."""
        self._cancel_timer()
        async with self._lock:
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self._last = self._clock()
                self.frames += 1
                await self._send(text)

    def discard(self) -> None:
        """Drop what is pending (the pieces are being replaced)."""
        self._cancel_timer()
        self._pending.clear()

    async def close(self) -> None:
        """Send the rest and wait for a timer's frame still on its way."""
        await self.flush()
        timed, self._timed = self._timed, None
        if timed is not None and not timed.done():
            await timed

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _retrieve(task: asyncio.Task[None]) -> None:
    """A timed frame that could not be sent (the socket closed) is not an error to report: the
    answer's own sends fail the same way and are handled there."""
    if not task.cancelled():
        task.exception()
