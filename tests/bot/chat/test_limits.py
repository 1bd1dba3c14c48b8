"""Which buckets a message is counted against, and what a full one tells the end user."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.chat.limits import Limits, Sender, buckets, retry_after, wait_for
from core.ratelimit import MemoryRateLimiter, Rate, RedisRateLimiter
from core.settings import load_settings

pytestmark = pytest.mark.anyio

LIMITS = Limits(
    visitor_messages=Rate(3, 10),
    key_messages=Rate(100, 60),
    visitor_conversations=Rate(2, 3600),
    key_conversations=Rate(50, 3600),
    visitor_hellos=Rate(2, 60),
    address_hellos=Rate(3, 60),
)
ALICE = Sender("lic_1", "v_alice", "key_1")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_every_message_counts_for_its_visitor_and_its_key() -> None:
    assert buckets(LIMITS, ALICE, opens=False) == [
        ("vm:lic_1:v_alice", LIMITS.visitor_messages),
        ("km:key_1", LIMITS.key_messages),
    ]


def test_a_message_that_may_open_a_unit_also_counts_against_the_conversation_rates() -> None:
    assert [name for name, _ in buckets(LIMITS, ALICE, opens=True)] == [
        "vm:lic_1:v_alice",
        "km:key_1",
        "vc:lic_1:v_alice",
        "kc:key_1",
    ]


def test_a_visitors_buckets_are_its_licensees_own() -> None:
    other = Sender("lic_2", "v_alice", "key_2")
    mine = {name for name, _ in buckets(LIMITS, ALICE, opens=True)}
    theirs = {name for name, _ in buckets(LIMITS, other, opens=True)}
    assert not mine & theirs


def test_limits_come_from_settings() -> None:
    settings = load_settings(
        secret_key="k" * 40,
        rate_visitor_messages="5/10s",
        rate_key_messages="600/min",
        rate_visitor_conversations="3/h",
        rate_key_conversations="100/d",
        rate_visitor_hellos="7/min",
        rate_address_hellos="70/min",
    )
    assert Limits.from_settings(settings) == Limits(
        Rate(5, 10), Rate(600, 60), Rate(3, 3600), Rate(100, 86400), Rate(7, 60), Rate(70, 60)
    )


@pytest.mark.parametrize(("wait", "said"), [(0.01, 0.1), (0.1, 0.1), (2.0, 2.0), (2.01, 2.1)])
def test_retry_after_is_rounded_up_to_a_tenth(wait: float, said: float) -> None:
    assert retry_after(wait) == said


async def test_the_first_full_bucket_stops_the_message_and_later_ones_are_not_charged() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    for _ in range(3):  # 3/10s: the visitor's message bucket is used up
        assert await wait_for(limiter, LIMITS, ALICE, opens=False) is None
    wait = await wait_for(limiter, LIMITS, ALICE, opens=True)
    assert wait is not None and 0 < wait <= 10
    # The refused message did not count against the conversation rate (2/h): two units open.
    for _ in range(2):
        now[0] += wait
        assert await wait_for(limiter, LIMITS, ALICE, opens=True) is None
    now[0] += wait
    refused = await wait_for(limiter, LIMITS, ALICE, opens=True)
    assert refused is not None and refused > 1000  # the next unit in half an hour or so
    # Inside an open unit the visitor may still talk.
    now[0] += wait
    assert await wait_for(limiter, LIMITS, ALICE, opens=False) is None


@pytest.mark.redis
async def test_the_address_bucket_goes_first_in_the_same_redis_round_trip() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}:rl:"
    limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
    client = Redis.from_url(REDIS_URL)
    trips: list[object] = []
    execute: Any = limiter._redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        trips.append(args[0])
        return await execute(*args, **options)

    limiter._redis.execute_command = counted  # type: ignore[method-assign]
    try:
        limits = replace(LIMITS, visitor_messages=Rate(100, 10), address_messages=Rate(2, 10))
        for _ in range(2):
            assert await wait_for(limiter, limits, ALICE, False, "10.0.0.1") is None
        # The address is full, the visitor is not: refused, and nothing after it was charged.
        assert await wait_for(limiter, limits, ALICE, False, "10.0.0.1") is not None
        assert await wait_for(limiter, limits, ALICE, False, "10.0.0.2") is None  # another one
        assert len(trips) == 4  # one round trip a message, whatever the buckets
        keys = await client.keys(f"{prefix}*")
        used = [(k.decode() if isinstance(k, bytes) else k).removeprefix(prefix) for k in keys]
        assert sorted(used) == [
            "am:lic_1:10.0.0.1",
            "am:lic_1:10.0.0.2",
            "km:key_1",
            "vm:lic_1:v_alice",
        ]
        assert float(await client.get(f"{prefix}vm:lic_1:v_alice") or 0) > 0
    finally:
        keys = await client.keys(f"{prefix}*")
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await limiter.aclose()
