"""Tests for core.ratelimit: rate parsing, the GCRA step, and both limiter backends."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from core.ratelimit import (
    Decision,
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RedisRateLimiter,
    gcra,
    make_rate_limiter,
)

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Nothing listens on port 1: connection refused at once.
DEAD_REDIS_URL = "redis://:s3cret@127.0.0.1:1/0"
T0 = 1_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """A raw client; fails (does not skip) when the Redis service is down."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def redis_namespace(client: Redis) -> AsyncIterator[str]:
    """A key prefix unique to one test; its keys are deleted afterwards."""
    prefix = f"kefu:test:rl:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)


@pytest.fixture
async def redis_prefix(redis_client: Redis) -> AsyncIterator[str]:
    async with redis_namespace(redis_client) as prefix:
        yield prefix


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        memory = MemoryRateLimiter()
        try:
            yield memory
        finally:
            await memory.aclose()
        return
    # Async fixtures cannot be pulled in with getfixturevalue(), hence the inline client.
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        async with redis_namespace(client) as prefix:
            redis_limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
            try:
                yield redis_limiter
            finally:
                await redis_limiter.aclose()
    finally:
        await client.aclose()


async def count_allowed(lim: RateLimiter, bucket: str, rate: Rate, now: float, n: int) -> int:
    allowed = 0
    for _ in range(n):
        if await lim.hit(bucket, rate, now) is None:
            allowed += 1
    return allowed


# --- Rate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "per_seconds"),
    [
        ("20/10s", 20, 10.0),
        ("600/min", 600, 60.0),
        ("30/h", 30, 3600.0),
        ("5/s", 5, 1.0),
        ("1/d", 1, 86400.0),
        ("100/5min", 100, 300.0),
        ("3/1.5s", 3, 1.5),
        (" 10 / 2 hours ", 10, 7200.0),
        ("7/SEC", 7, 1.0),
    ],
)
def test_rate_parse_accepts(text: str, count: int, per_seconds: float) -> None:
    rate = Rate.parse(text)
    assert rate == Rate(count, per_seconds)
    assert rate.interval == pytest.approx(per_seconds / count)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "20/",
        "/10s",
        "20/10",
        "20/10x",
        "20/10m",
        "1.5/s",
        "-1/s",
        "20 per 10s",
        "20/10s/2",
        "abc",
        "\u0663/s",
        "0/s",
        "5/0s",
        "5/0.0min",
    ],
)
def test_rate_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        Rate.parse(text)


@pytest.mark.parametrize(
    ("count", "per_seconds"),
    [(0, 1.0), (-3, 1.0), (True, 1.0), (5, 0.0), (5, -1.0), (5, float("nan")), (5, float("inf"))],
)
def test_rate_rejects_invalid_values(count: Any, per_seconds: float) -> None:
    with pytest.raises(ValueError):
        Rate(count, per_seconds)


@pytest.mark.parametrize("text", ["20/10s", "600/min", "30/h", "5/s", "3/1.5s"])
def test_rate_str_round_trips(text: str) -> None:
    rate = Rate.parse(text)
    assert Rate.parse(str(rate)) == rate


# --- pure GCRA ------------------------------------------------------------------------------


def run_burst(rate: Rate, now: float) -> tuple[int, Decision]:
    """Hit a fresh bucket at a single instant until refused."""
    tat, allowed = now, 0
    while True:
        decision = gcra(tat, now, rate)
        if not decision.allowed:
            return allowed, decision
        tat = decision.new_tat
        allowed += 1


def test_gcra_burst_then_refusal_with_retry_after() -> None:
    rate = Rate(5, 10.0)
    allowed, refused = run_burst(rate, T0)
    assert allowed == 5
    assert refused.allowed is False
    assert refused.retry_after == pytest.approx(2.0)
    # A refusal consumes nothing: the TAT is where the burst left it.
    assert refused.new_tat == pytest.approx(T0 + 10.0)


def test_gcra_allowed_step_advances_tat_by_one_interval() -> None:
    decision = gcra(T0, T0, Rate(4, 2.0))
    assert decision == Decision(True, T0 + 0.5, 0.0)
    # A stale TAT from long ago is the same as an empty bucket.
    assert gcra(T0 - 500.0, T0, Rate(4, 2.0)) == decision


def test_gcra_refill_over_time() -> None:
    rate = Rate(5, 10.0)
    tat = T0 + 10.0  # bucket just emptied by a burst at T0
    assert not gcra(tat, T0 + 1.99, rate).allowed
    assert gcra(tat, T0 + 1.99, rate).retry_after == pytest.approx(0.01)
    one = gcra(tat, T0 + 2.0, rate)
    assert one.allowed
    assert not gcra(one.new_tat, T0 + 2.0, rate).allowed
    # Half the period restores half the burst, a full period all of it.
    tat_half = T0 + 10.0
    allowed = 0
    while (d := gcra(tat_half, T0 + 5.0, rate)).allowed:
        tat_half, allowed = d.new_tat, allowed + 1
    assert allowed == 2  # 5 s refills 2.5 cells; only whole ones can be spent
    tat_full = T0 + 10.0
    allowed = 0
    while (d := gcra(tat_full, T0 + 10.0, rate)).allowed:
        tat_full, allowed = d.new_tat, allowed + 1
    assert allowed == 5


def test_gcra_waiting_retry_after_is_enough() -> None:
    rate = Rate(3, 1.0)
    _, refused = run_burst(rate, T0)
    later = T0 + refused.retry_after
    assert gcra(refused.new_tat, later, rate).allowed


@pytest.mark.parametrize("text", ["600/min", "7/10s", "3/2s", "1000/s", "20/10s", "1/s"])
@pytest.mark.parametrize("base", [0.0, 0.3, 12_345.678, 1_795_000_000.123456])
def test_gcra_burst_is_exact_at_any_clock_magnitude(text: str, base: float) -> None:
    # Wall-clock magnitudes lose precision; the burst must still be exactly `count`.
    rate = Rate.parse(text)
    allowed, refused = run_burst(rate, base)
    assert allowed == rate.count
    assert refused.retry_after > 0
    assert refused.retry_after == pytest.approx(rate.interval, rel=0.1)


# --- behaviour suite, both backends ---------------------------------------------------------


@pytest.mark.anyio
async def test_burst_then_rate_limited(limiter: RateLimiter) -> None:
    rate = Rate(5, 10.0)
    for _ in range(5):
        assert await limiter.hit("visitor:a", rate, T0) is None
    wait = await limiter.hit("visitor:a", rate, T0)
    assert wait == pytest.approx(2.0)
    assert await limiter.hit("visitor:a", rate, T0 + 0.5) == pytest.approx(1.5)


@pytest.mark.anyio
async def test_refill_over_time(limiter: RateLimiter) -> None:
    rate = Rate(5, 10.0)
    assert await count_allowed(limiter, "b", rate, T0, 10) == 5
    assert await limiter.hit("b", rate, T0 + 1.9) == pytest.approx(0.1)
    assert await count_allowed(limiter, "b", rate, T0 + 2.0, 10) == 1
    assert await count_allowed(limiter, "b", rate, T0 + 6.0, 10) == 2
    # After a full period of silence the whole burst is back.
    assert await count_allowed(limiter, "b", rate, T0 + 16.0, 10) == 5


@pytest.mark.anyio
async def test_refused_hits_do_not_consume_budget(limiter: RateLimiter) -> None:
    rate = Rate(2, 2.0)
    assert await count_allowed(limiter, "c", rate, T0, 2) == 2
    for i in range(50):
        assert await limiter.hit("c", rate, T0 + i * 0.01) is not None
    assert await limiter.hit("c", rate, T0 + 1.0) is None


@pytest.mark.anyio
async def test_sustained_rate_is_honoured(limiter: RateLimiter) -> None:
    rate = Rate(3, 3.0)  # one per second sustained
    assert await count_allowed(limiter, "d", rate, T0, 3) == 3
    for second in range(1, 20):
        now = T0 + second
        assert await limiter.hit("d", rate, now) is None
        assert await limiter.hit("d", rate, now) == pytest.approx(1.0)
        assert await limiter.hit("d", rate, now + 0.5) == pytest.approx(0.5)


@pytest.mark.anyio
async def test_waiting_retry_after_then_allowed(limiter: RateLimiter) -> None:
    rate = Rate(7, 10.0)
    assert await count_allowed(limiter, "e", rate, T0, 7) == 7
    wait = await limiter.hit("e", rate, T0)
    assert wait is not None and wait > 0
    assert await limiter.hit("e", rate, T0 + wait) is None


@pytest.mark.anyio
async def test_buckets_are_isolated(limiter: RateLimiter) -> None:
    rate = Rate(3, 60.0)
    assert await count_allowed(limiter, "visitor:A", rate, T0, 100) == 3
    assert await count_allowed(limiter, "visitor:B", rate, T0, 100) == 3
    assert await count_allowed(limiter, "site:A", rate, T0, 100) == 3
    # B's flood did not change A's position either.
    assert await limiter.hit("visitor:A", rate, T0) == pytest.approx(20.0)


@pytest.mark.anyio
async def test_each_bucket_uses_its_own_rate(limiter: RateLimiter) -> None:
    assert await count_allowed(limiter, "msg:v1", Rate.parse("20/10s"), T0, 50) == 20
    assert await count_allowed(limiter, "conv:v1", Rate.parse("2/min"), T0, 50) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("text", ["7/10s", "3/2s", "600/min", "1000/s"])
@pytest.mark.parametrize("now", [T0, 1_795_000_000.123456])
async def test_burst_exact_at_clock_magnitudes(limiter: RateLimiter, text: str, now: float) -> None:
    # These rates and clock values are ones where naive float TATs lose the last cell.
    rate = Rate.parse(text)
    assert await count_allowed(limiter, "f", rate, now, rate.count + 5) == rate.count
    wait = await limiter.hit("f", rate, now)
    # At wall-clock magnitudes a float resolves ~0.2 µs, hence the loose bound.
    assert wait is not None
    assert wait == pytest.approx(rate.interval, rel=0.1)
    assert await limiter.hit("f", rate, now + wait) is None


# --- memory backend -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_memory_uses_its_clock_when_now_is_omitted() -> None:
    clock = [100.0]
    lim = MemoryRateLimiter(clock=lambda: clock[0])
    rate = Rate(1, 4.0)
    assert await lim.hit("x", rate) is None
    assert await lim.hit("x", rate) == pytest.approx(4.0)
    clock[0] += 4.0
    assert await lim.hit("x", rate) is None
    await lim.aclose()


@pytest.mark.anyio
async def test_memory_prunes_expired_buckets(caplog: pytest.LogCaptureFixture) -> None:
    lim = MemoryRateLimiter(max_buckets=2000)
    rate = Rate(1, 1.0)  # each bucket is live for 1 s, i.e. for 100 of these hits
    peak = 0
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        for i in range(20_000):
            now = T0 + i * 0.01
            assert await lim.hit(f"v{i}", rate, now) is None
            peak = max(peak, len(lim))
    assert peak <= 1024  # the first sweep threshold, far below max_buckets
    assert len(lim) <= 1024
    assert not caplog.records  # only expired entries were dropped
    # Recent buckets are still limited.
    assert await lim.hit("v19999", rate, T0 + 199.995) is not None
    await lim.aclose()


@pytest.mark.anyio
async def test_memory_bounded_under_flood_of_live_buckets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lim = MemoryRateLimiter(max_buckets=500)
    rate = Rate(1, 3600.0)
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        for i in range(10_000):
            assert await lim.hit(f"v{i}", rate, T0) is None
            assert len(lim) <= 500
    assert any("least recently used" in r.getMessage() for r in caplog.records)
    # The most recently charged buckets survive eviction and stay limited.
    for i in range(9_900, 10_000):
        assert await lim.hit(f"v{i}", rate, T0) is not None
    await lim.aclose()


@pytest.mark.anyio
async def test_memory_eviction_drops_least_recently_charged() -> None:
    lim = MemoryRateLimiter(max_buckets=100)
    rate = Rate(1000, 3600.0)
    await lim.hit("oldest-but-active", rate, T0)
    for i in range(300):
        await lim.hit(f"v{i}", rate, T0)
        await lim.hit("oldest-but-active", rate, T0)  # charging moves it to the recent end
        assert len(lim) <= 100
    # It kept its whole history (301 cells spent) while idle v0 was reset to a full budget.
    assert await count_allowed(lim, "oldest-but-active", rate, T0, 1000) == 699
    assert await count_allowed(lim, "v0", rate, T0, 1000) == 1000
    await lim.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("live", [True, False])
async def test_memory_pruning_is_amortised_constant(live: bool) -> None:
    lim = MemoryRateLimiter(max_buckets=4000)
    rate = Rate(1, 3600.0 if live else 0.5)
    n = 50_000
    for i in range(n):
        await lim.hit(f"v{i}", rate, T0 + i * 0.001)
    assert 0 < lim.swept <= 8 * n
    await lim.aclose()


def test_memory_rejects_tiny_capacity() -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(max_buckets=0)


# --- redis backend --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_two_instances_share_one_budget(redis_prefix: str) -> None:
    a = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    b = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        rate = Rate(6, 60.0)
        results = [await (a if i % 2 else b).hit("site:k1", rate, T0) for i in range(20)]
        assert sum(r is None for r in results) == 6
        assert await a.hit("site:k1", rate, T0) == pytest.approx(10.0)
        assert await b.hit("site:k1", rate, T0) == pytest.approx(10.0)
        # A different prefix is a different namespace.
        c = RedisRateLimiter(REDIS_URL, prefix=redis_prefix + "other:")
        try:
            assert await c.hit("site:k1", rate, T0) is None
        finally:
            await c.aclose()
    finally:
        await a.aclose()
        await b.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_concurrent_hits_are_atomic(redis_prefix: str) -> None:
    limiters = [RedisRateLimiter(REDIS_URL, prefix=redis_prefix) for _ in range(3)]
    try:
        rate = Rate(10, 60.0)
        results = await asyncio.gather(*(limiters[i % 3].hit("hot", rate, T0) for i in range(90)))
        assert sum(r is None for r in results) == 10
    finally:
        for lim in limiters:
            await lim.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_uses_server_clock(redis_prefix: str) -> None:
    lim = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        rate = Rate(3, 0.3)
        assert [await lim.hit("clock", rate) for _ in range(3)] == [None, None, None]
        wait = await lim.hit("clock", rate)
        assert wait is not None and 0 < wait <= 0.1 + 1e-6
        await anyio.sleep(wait + 0.02)
        assert await lim.hit("clock", rate) is None
    finally:
        await lim.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_keys_carry_ttl_and_expire(redis_prefix: str, redis_client: Redis) -> None:
    lim = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        await lim.hit("ttl", Rate(10, 60.0))
        key = redis_prefix + "ttl"
        pttl = await redis_client.pttl(key)
        assert 0 < pttl <= 6_000  # one interval charged: the key lives until the TAT
        await lim.hit("short", Rate(1, 0.15))
        # It lives until its TAT, 150 ms away (rounded up to the next millisecond).
        assert 0 < await redis_client.pttl(redis_prefix + "short") <= 151
        # Under a clock handed in, Redis's own clock must not empty the bucket: a minute at least.
        await lim.hit("given", Rate(1, 0.15), T0)
        assert 59_000 < await redis_client.pttl(redis_prefix + "given") <= 60_000
        # A refusal leaves the stored TAT untouched.
        before = await redis_client.get(key)
        for _ in range(20):
            await lim.hit("ttl", Rate(1, 60.0), T0)
        assert await redis_client.get(key) == before
    finally:
        await lim.aclose()


@pytest.mark.anyio
async def test_redis_unreachable_fails_open_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    lim = RedisRateLimiter(DEAD_REDIS_URL, outage_backoff=0.0, clock=clock)
    try:
        rate = Rate(1, 3600.0)
        with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
            started = time.monotonic()
            results = [await lim.hit("x", rate) for _ in range(10)]
            elapsed = time.monotonic() - started
        assert results == [None] * 10
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "s3cret" not in warnings[0].getMessage()
        assert elapsed < 5.0  # no long retry backoff per message
        # A minute later an ongoing outage is reported again.
        caplog.clear()
        clock.now += 61.0
        with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
            assert await lim.hit("x", rate) is None
            assert await lim.hit("x", rate) is None
        assert len(caplog.records) == 1
    finally:
        await lim.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_outage_backoff_skips_redis(redis_prefix: str, redis_client: Redis) -> None:
    clock = Clock()
    lim = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, outage_backoff=60.0, clock=clock)
    key = redis_prefix + "x"
    await redis_client.hset(key, "a", "b")  # a key of the wrong type: Redis fails this bucket
    try:
        rate = Rate(1, 3600.0)
        assert await lim.hit("x", rate, T0) is None  # failed open; the backoff starts
        await redis_client.delete(key)
        assert [await lim.hit("x", rate, T0) for _ in range(5)] == [None] * 5
        assert await redis_client.exists(key) == 0  # Redis was not asked
        clock.now += 60.0
        assert await lim.hit("x", rate, T0) is None
        assert await redis_client.exists(key) == 1  # asked again once the backoff is over
        assert await lim.hit("x", rate, T0) is not None
    finally:
        await lim.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_redis_error_on_key_fails_open(redis_prefix: str, redis_client: Redis) -> None:
    await redis_client.hset(redis_prefix + "wrongtype", "a", "b")
    lim = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        assert await lim.hit("wrongtype", Rate(1, 3600.0), T0) is None
    finally:
        await lim.aclose()


# --- factory and import policy --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("url", [None, ""])
async def test_make_rate_limiter_defaults_to_memory(url: str | None) -> None:
    lim = make_rate_limiter(url)
    assert isinstance(lim, MemoryRateLimiter)
    await lim.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_make_rate_limiter_with_url_is_redis(redis_client: Redis) -> None:
    lim = make_rate_limiter(REDIS_URL)
    bucket = f"test:{uuid.uuid4().hex}"
    try:
        assert isinstance(lim, RedisRateLimiter)
        assert await lim.hit(bucket, Rate(1, 60.0)) is None
        assert await lim.hit(bucket, Rate(1, 60.0)) is not None
        assert await redis_client.exists("kefu:rl:" + bucket) == 1  # the default prefix
    finally:
        await redis_client.delete("kefu:rl:" + bucket)
        await lim.aclose()


def test_core_ratelimit_imports_no_web_or_llm_framework() -> None:
    code = (
        "import sys, core.ratelimit; "
        "bad = [m for m in ('fastapi', 'starlette', 'langchain', 'jinja2') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.anyio
async def test_redis_limiter_falls_back_to_local_limits_while_redis_is_down() -> None:
    lim = RedisRateLimiter(DEAD_REDIS_URL, outage_backoff=60.0, fallback=MemoryRateLimiter())
    try:
        rate = Rate(2, 3600.0)
        results = [await lim.hit("x", rate) for _ in range(4)]
        assert results[:2] == [None, None]
        assert all(r is not None and r > 0 for r in results[2:])  # this process's budget
        assert await lim.hit("y", rate) is None  # buckets stay apart
    finally:
        await lim.aclose()


@pytest.mark.anyio
async def test_hit_all_charges_in_order_up_to_the_first_full_bucket_in_one_call() -> None:
    prefix = f"t{os.getpid()}:{time.monotonic_ns()}:"
    lim = RedisRateLimiter(REDIS_URL, prefix=prefix)
    one = RedisRateLimiter(REDIS_URL, prefix=prefix)
    try:
        roomy, tight = Rate(10, 60.0), Rate(1, 60.0)
        assert await lim.hit_all([("a", roomy), ("t", tight)], now=T0) is None
        wait = await lim.hit_all([("a", roomy), ("t", tight), ("c", roomy)], now=T0)
        assert wait is not None and wait > 0
        # Exactly as bucket by bucket: "a" was charged twice, "c" (after the full one) never.
        for _ in range(8):
            assert await one.hit("a", roomy, now=T0) is None
        assert await one.hit("a", roomy, now=T0) is not None
        assert await one.hit("c", Rate(1, 60.0), now=T0) is None
    finally:
        await lim.aclose()
        await one.aclose()


@pytest.mark.anyio
async def test_hit_all_falls_back_to_local_buckets_while_redis_is_down() -> None:
    lim = RedisRateLimiter(DEAD_REDIS_URL, outage_backoff=60.0, fallback=MemoryRateLimiter())
    try:
        rate = Rate(1, 3600.0)
        assert await lim.hit_all([("x", rate), ("y", rate)]) is None
        assert await lim.hit_all([("x", rate)]) is not None
    finally:
        await lim.aclose()
