"""Coalescing of streamed answer pieces into few ``reply.delta`` frames.

Every frame costs a serialisation, a WebSocket frame and a socket write on the event loop; an
answer arriving as many small pieces would spend more on framing than on answering. The first
piece goes out at once (the end user sees the answer start without delay); later pieces are
merged until ``window`` seconds have passed since the last frame, and the rest at the end.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

DEFAULT_WINDOW = 0.04


class DeltaCoalescer:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._window = window
        self._clock = clock
        self._pending: list[str] = []
        self._last: float | None = None
        self.frames = 0

    async def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        if self._last is None or self._clock() - self._last >= self._window:
            await self.flush()

    async def flush(self) -> None:
        """Send what is pending as one frame (call it once more before the answer ends)."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._last = self._clock()
            self.frames += 1
            await self._send(text)
