"""Runs one job every few seconds until told to stop (the sweeper, the licence watcher); jobs
that must run in one process at a time run only while it leads (core.db.leader)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.db.engine import unreachable

log = logging.getLogger("kefu.jobs")


async def run_periodic(
    interval: float,
    step: Callable[[], Awaitable[object]],
    name: str,
    stop: asyncio.Event,
    only_if: Callable[[], bool] | None = None,
) -> None:
    """Run ``step()`` every ``interval`` seconds until ``stop`` is set; a failing step is logged.
    With ``only_if`` (e.g. "this process is the jobs' leader"), a round it denies is skipped.

    Stopping is cooperative, never a cancel: a step may be inside a database thread, and the
    database must not be closed under it.
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        if only_if is not None and not only_if():
            continue
        try:
            await step()
        except Exception as exc:
            if unreachable(exc):  # an outage: one line per round, until it is over
                log.warning("%s failed: database unreachable (%r)", name, exc)
            else:
                log.exception("%s failed", name)
