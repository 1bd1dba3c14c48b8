"""The bus: the in-process one tells nobody; the Redis one tells every other process, not the
publisher, survives garbage and reports an outage."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

import pytest

from core.bus import Data, LocalBus, RedisBus, Topic, announce, encode, make_bus

pytestmark = pytest.mark.anyio
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEAD_REDIS_URL = "redis://:s3cret@127.0.0.1:1/0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[Topic, Data]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, topic: Topic, data: Data) -> None:
        self.got.append((topic, data))
        self.arrived.set()

    async def next(self, within: float = 2.0) -> tuple[Topic, Data]:
        await asyncio.wait_for(self.arrived.wait(), within)
        self.arrived.clear()
        return self.got[-1]


async def test_local_bus_publishes_to_nobody_and_is_healthy() -> None:
    bus = make_bus(None)
    assert isinstance(bus, LocalBus)
    inbox = Inbox()
    bus.subscribe(inbox)
    await bus.publish(Topic.ENDED, {"x": 1})
    assert inbox.got == []  # the publisher acts on its own sockets itself
    assert bus.healthy() == (True, "in-process")


async def test_redis_bus_tells_other_processes_not_the_publisher() -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    one, two = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    stranger = RedisBus(REDIS_URL, f"t{secrets.token_hex(4)}:")  # another installation
    inboxes = [Inbox(), Inbox(), Inbox()]
    for bus, inbox in zip((one, two, stranger), inboxes, strict=True):
        bus.subscribe(inbox)
        await bus.start()
    try:
        assert one.healthy() == (True, "redis")
        await one.publish(Topic.LICENCE, {"licensee_id": "lic_1"})
        assert await inboxes[1].next() == (Topic.LICENCE, {"licensee_id": "lic_1"})
        # A command that is not a server (the CLI) reaches every server, the publisher's too.
        assert announce(REDIS_URL, Topic.KEY, {"key_id": "key_1"}, prefix)
        assert await inboxes[0].next() == (Topic.KEY, {"key_id": "key_1"})
        assert await inboxes[1].next() == (Topic.KEY, {"key_id": "key_1"})
        await asyncio.sleep(0.2)
        assert [t for t, _ in inboxes[0].got] == [Topic.KEY]
        assert inboxes[2].got == []
    finally:
        for bus in (one, two, stranger):
            await bus.aclose()


async def test_redis_bus_ignores_garbage_and_a_failing_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    bus = RedisBus(REDIS_URL, prefix)
    inbox = Inbox()

    async def broken(_topic: Topic, _data: Data) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(inbox)
    await bus.start()
    try:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        await client.publish(prefix + "bus", "not json")
        await client.publish(prefix + "bus", encode("other", Topic.MAINTENANCE, {}))
        await client.aclose()
        assert await inbox.next() == (Topic.MAINTENANCE, {})
        assert "cannot read" in caplog.text
        assert bus.healthy()[0]
    finally:
        await bus.aclose()


async def test_redis_bus_reports_an_outage_and_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = RedisBus(DEAD_REDIS_URL)
    with caplog.at_level(logging.WARNING, logger="kefu.bus"):
        await bus.start()  # returns although Redis is unreachable
        await bus.publish(Topic.ENDED, {"x": 1})  # never raises
    ok, detail = bus.healthy()
    assert not ok and detail.startswith("redis:")
    assert "Redis unavailable" in caplog.text and "s3cret" not in caplog.text
    await bus.aclose()
    assert not announce(DEAD_REDIS_URL, Topic.LICENCE, {"licensee_id": "x"})
