"""Waiting in async tests on a condition rather than for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Return once ``predicate()`` holds; fail with ``what`` if it does not within ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} (waited {within:g} s)")
        await asyncio.sleep(0.05)
