"""The event loop's stalls and the collector's pauses are measured, and a long stall is logged
with the collections in it; what lives as long as the process is frozen out of full passes."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator

import pytest

from bot import collector, loop_lag

pytestmark = pytest.mark.anyio


def samples(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or None) or 0.0


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # other tests see the collector as it comes
    collector.configure(True)


async def test_a_blocked_loop_is_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    loop_lag.meter_gc()
    before = samples("kefu_event_loop_lag_seconds_count")
    over = samples("kefu_event_loop_lag_seconds_bucket", le="0.1")
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, "kefu.loop")
    probe = asyncio.create_task(loop_lag.probe(stop, every=0.01, log_over=0.2))
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # noqa: ASYNC251 - the stall under test
    await asyncio.sleep(0.05)
    stop.set()
    await probe
    assert samples("kefu_event_loop_lag_seconds_count") > before + 3
    # One wake-up at least 200 ms late: counted above the 100 ms bucket, and logged.
    late = samples("kefu_event_loop_lag_seconds_count") - before
    in_time = samples("kefu_event_loop_lag_seconds_bucket", le="0.1") - over
    assert late - in_time >= 1
    assert any("event loop stalled" in r.getMessage() for r in caplog.records)


def test_collections_are_timed_by_generation() -> None:
    loop_lag.meter_gc()
    before = samples("kefu_gc_pause_seconds_count", generation="2")
    gc.collect()
    assert samples("kefu_gc_pause_seconds_count", generation="2") == before + 1


def test_freezing_moves_what_is_alive_out_of_the_collector_s_passes(unfrozen: None) -> None:
    kept = [{"n": i} for i in range(1000)]
    collector.configure(True)
    before = gc.get_freeze_count()
    collector.freeze_long_lived("a test")
    assert gc.get_freeze_count() >= before + len(kept)
    assert not any(obj is kept for obj in gc.get_objects())  # no pass visits it now


def test_the_freeze_can_be_turned_off(unfrozen: None) -> None:
    collector.configure(False)
    before = gc.get_freeze_count()
    collector.freeze_long_lived("a test")
    assert gc.get_freeze_count() == before
