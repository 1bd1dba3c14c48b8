"""How long the event loop was unable to run anything, and what the garbage collector took.

A stalled loop delays every socket of the process at once: a p99 that rises while the median and
the throughput stay flat is the mark of it. ``probe`` wakes every few milliseconds and records
how late it woke (``kefu_event_loop_lag_seconds``); ``meter_gc`` times each collection by
generation (``kefu_gc_pause_seconds``). A stall longer than ``log_over`` is logged with the
collections that ran during it, so the log says whether the collector was the cause.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from prometheus_client import Histogram

log = logging.getLogger("kefu.loop")

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)

LOOP_LAG = Histogram(
    "kefu_event_loop_lag_seconds",
    "How much later than asked the event loop woke a sleeping probe (time nothing else ran).",
    buckets=_LAG_BUCKETS,
)
GC_PAUSE = Histogram(
    "kefu_gc_pause_seconds",
    "Garbage collections of this process, by generation.",
    ["generation"],
    buckets=_GC_BUCKETS,
)


class _GcTimer:
    """A ``gc.callbacks`` entry: times each collection; remembers the recent ones."""

    def __init__(self) -> None:
        self._started = 0.0
        self.recent: list[tuple[float, int, float]] = []  # (ended at, generation, seconds)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        now = time.perf_counter()
        took = now - self._started
        generation = int(info.get("generation", 0))
        GC_PAUSE.labels(str(generation)).observe(took)
        if took >= 0.005:
            self.recent.append((now, generation, took))
            del self.recent[:-20]

    def since(self, start: float) -> list[tuple[int, float]]:
        return [(gen, took) for at, gen, took in self.recent if at >= start]


_timer: _GcTimer | None = None


def meter_gc() -> None:
    """Time this process's garbage collections (idempotent)."""
    global _timer
    if _timer is None:
        _timer = _GcTimer()
        gc.callbacks.append(_timer)


async def probe(stop: asyncio.Event, every: float = 0.01, log_over: float = 0.25) -> None:
    """Measure the loop's lag until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(every)
        lag = max(0.0, loop.time() - asked - every)
        LOOP_LAG.observe(lag)
        if lag >= log_over:
            collections = _timer.since(time.perf_counter() - lag - every) if _timer else []
            gcs = ", ".join(f"gen {g} {t * 1000:.0f} ms" for g, t in collections) or "none"
            log.warning("event loop stalled %.0f ms (garbage collections: %s)", lag * 1000, gcs)
