"""Claims shared by processes through Redis: a hello on one worker never takes a message that
another worker holds, and a dead holder's claims lapse."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from bot.chat.claims import Claims, MessageKey, SharedClaims

pytestmark = pytest.mark.anyio
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
Q = MessageKey("lic_1", "v_1", "q")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def two_workers() -> tuple[Claims, Claims]:
    prefix = f"t{secrets.token_hex(4)}:"
    return Claims(SharedClaims(REDIS_URL, prefix)), Claims(SharedClaims(REDIS_URL, prefix))


async def test_a_message_held_on_one_worker_is_not_free_on_another() -> None:
    a, b = two_workers()
    try:
        claim = await a.acquire(Q)
        assert await b.take_free([Q]) == []
        assert a.shared is not None
        await a.shared.renew([Q])  # renewing keeps it held
        assert await b.take_free([Q]) == []
        claim.release()
        await a.shared._redis.pexpire(a.shared.name(Q), 100)  # a released claim expires
        await asyncio.sleep(0.3)
        taken = await b.take_free([Q])
        assert [c.key for c in taken] == [Q]
        assert await a.take_free([Q]) == []  # now b holds it
        await a.aclose()
    finally:
        await b.aclose()


async def test_two_hellos_on_two_workers_take_a_message_once() -> None:
    a, b = two_workers()
    try:
        keys = [MessageKey("lic_1", "v_1", f"q{i}") for i in range(20)]
        import asyncio

        on_a, on_b = await asyncio.gather(a.take_free(keys), b.take_free(keys))
        assert sorted(c.key for c in on_a + on_b) == sorted(keys)  # each taken exactly once
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_dead_holders_claim_lapses() -> None:
    a, b = two_workers()
    assert a.shared is not None and b.shared is not None
    try:
        await a.acquire(Q)
        # The holder dies without letting go: its claim expires (shortened here).
        await a.shared._redis.pexpire(a.shared.name(Q), 100)
        import asyncio

        await asyncio.sleep(0.3)
        assert [c.key for c in await b.take_free([Q])] == [Q]
    finally:
        await b.aclose()
        await a.shared.aclose()


async def test_claims_fall_back_to_this_process_while_redis_is_down() -> None:
    claims = Claims(SharedClaims("redis://127.0.0.1:1/0", "t:"))
    held = await claims.acquire(Q)
    assert claims.shared is not None and claims.shared.problem is not None
    assert await claims.take_free([Q]) == []  # held here
    held.release()
    assert [c.key for c in await claims.take_free([Q])] == [Q]
    await claims.aclose()
