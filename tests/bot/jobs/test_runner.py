"""The job runner: a failing step is logged and the next one still runs; stopping is prompt."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.jobs.runner import run_periodic

pytestmark = pytest.mark.anyio


async def test_a_failing_step_is_logged_and_the_job_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    steps: list[int] = []

    async def step() -> None:
        steps.append(len(steps))
        if len(steps) == 1:
            raise RuntimeError("database away")
        stop.set()

    with caplog.at_level(logging.ERROR, "kefu.jobs"):
        await asyncio.wait_for(run_periodic(0, step, "sweeper", stop), 5)
    assert steps == [0, 1] and "sweeper failed" in caplog.text


async def test_a_set_stop_ends_the_wait_at_once() -> None:
    stop = asyncio.Event()
    job = asyncio.create_task(run_periodic(3600, stop.wait, "watcher", stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(job, 5)  # not an hour
