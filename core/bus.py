"""What processes tell each other: an in-process bus for one process, a Redis one for several.

A signal is a topic and a small JSON object. Publishing tells every other process subscribed to
the same prefix (on Redis); the publisher acts on its own sockets itself, directly, so one
process needs no bus at all and the in-process bus publishes nowhere. Signals are hints to
act now, never the state itself: a handler reads the database (a licence's status, whether a
key is revoked), and a socket that connects or reconnects gets its state from the database in
``hello``. So a signal lost while Redis or a worker was down delays a push; it never loses or
invents a record. After Redis comes back, every handler hears ``Topic.RESYNC``: something may
have been missed, read again.

Topics:

- ``ended`` ``{licensee_id, visitor_id, conversation_id, seq, reason}``: a unit ended (sweeper,
  close, suspension); every socket of that end user is told.
- ``licence`` ``{licensee_id}``: the licensee's row changed (suspended, resumed, configured,
  new knowledge base); servers read it again and apply it.
- ``key`` ``{key_id}``: a key was revoked; sockets opened with it are closed after the database
  confirms it.
- ``maintenance`` ``{}``: a maintenance window was announced; servers read the windows again.
- ``visitor`` ``{licensee_id, visitor_id, frame}``: a server frame (protocol v1, as JSON) for
  every socket of one end user, wherever it is held (the hand-off's agent messages).
- ``agent`` ``{licensee_id, conversation_id, frame}``: a frame for the agents watching one
  conversation (the hand-off's visitor messages to agent consoles).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("kefu.bus")

DEFAULT_PREFIX = "kefu:"
CHANNEL = "bus"


class Topic(StrEnum):
    ENDED = "ended"
    LICENCE = "licence"
    KEY = "key"
    MAINTENANCE = "maintenance"
    VISITOR = "visitor"
    AGENT = "agent"
    RESYNC = "resync"  # local only: the bus was down, signals may have been missed


Data = dict[str, Any]
Handler = Callable[[Topic, Data], Awaitable[None]]


class Bus(Protocol):
    def subscribe(self, handler: Handler) -> None:
        """Call ``handler(topic, data)`` for every signal of another process."""
        ...

    async def publish(self, topic: Topic, data: Data) -> None:
        """Tell every other process (none, for the in-process bus); never raises."""
        ...

    def healthy(self) -> tuple[bool, str]:
        """Whether signals reach the other processes (always, for one process), and why not."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class _Handlers:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def deliver(self, topic: Topic, data: Data) -> None:
        for handler in self._handlers:
            try:
                await handler(topic, data)
            except Exception:  # one handler's failure never stops the others
                log.exception("bus handler failed on %s", topic.value)


class LocalBus(_Handlers):
    """One process: there is nobody else to tell."""

    async def publish(self, topic: Topic, data: Data) -> None:
        pass

    def healthy(self) -> tuple[bool, str]:
        return True, "in-process"

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def encode(origin: str, topic: Topic, data: Data) -> str:
    return json.dumps({"o": origin, "t": topic.value, "d": data}, separators=(",", ":"))


def decode(raw: bytes | str) -> tuple[str, Topic, Data] | None:
    """A signal from the channel, or None for one this version does not know (logged)."""
    try:
        body = json.loads(raw)
        return str(body["o"]), Topic(body["t"]), dict(body["d"])
    except (ValueError, KeyError, TypeError):
        log.warning("bus: ignoring a signal this server cannot read: %.200r", raw)
        return None


class RedisBus(_Handlers):
    """Several processes: Redis pub/sub on one channel per prefix.

    Pub/sub delivers only to subscribers connected at that moment; nothing depends on more
    (see the module docstring). While Redis is down, publishers still act on their own
    sockets, the outage is logged (once a minute) and ``healthy()`` says so; the reader
    reconnects by itself and then tells the handlers to resync.
    """

    _WARN_EVERY = 60.0

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        timeout: float = 0.5,
        reconnect_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.channel = prefix + CHANNEL
        self._url = url
        self._timeout = timeout
        self._reconnect = reconnect_seconds
        # Publishing must not stall a chat for redis-py's default retries (see core.ratelimit).
        self._redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        # The subscription waits for signals as long as it takes: no read timeout, which would
        # drop it (and the signals sent while it reconnects) whenever the channel is quiet or
        # this process is slow; a dead Redis is noticed by its health checks instead.
        self._listener = Redis.from_url(
            url, socket_connect_timeout=2.0, socket_keepalive=True, health_check_interval=5
        )
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._problem: str | None = "not connected yet"
        self._last_warning = -math.inf

    def healthy(self) -> tuple[bool, str]:
        if self._problem is None:
            return True, "redis"
        return False, f"redis: {self._problem}"

    def _trouble(self, what: str, exc: BaseException) -> None:
        self._problem = f"{what}: {type(exc).__name__}"
        now = time.monotonic()
        if now - self._last_warning >= self._WARN_EVERY:
            self._last_warning = now
            # Never the URL: it may carry a password.
            log.warning("bus: Redis unavailable (%s), this process's view only: %r", what, exc)

    async def publish(self, topic: Topic, data: Data) -> None:
        try:
            await self._redis.publish(self.channel, encode(self.origin, topic, data))
        except (RedisError, OSError) as exc:
            self._trouble("publish", exc)

    async def start(self) -> None:
        """Start reading; returns once subscribed, or after a second when Redis is down (the
        server starts anyway, on its own view, and keeps trying)."""
        self._reader = asyncio.create_task(self._read_forever())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 1.0)

    async def _read_forever(self) -> None:
        missed = False
        while True:
            pubsub: PubSub | None = None
            try:
                pubsub = self._listener.pubsub()
                await pubsub.subscribe(self.channel)
                if self._problem is not None:
                    log.info("bus: Redis reachable, signals reach every process")
                self._problem = None
                self._subscribed.set()
                if missed:
                    missed = False
                    await self.deliver(Topic.RESYNC, {})
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message":
                        await self._received(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._trouble("subscription", exc)
                missed = True
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(self._reconnect)

    async def _received(self, raw: bytes | str) -> None:
        signal = decode(raw)
        if signal is not None and signal[0] != self.origin:  # the publisher acted on its own
            await self.deliver(signal[1], signal[2])

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._redis.aclose()
        await self._listener.aclose()


def make_bus(redis_url: str | None, prefix: str = DEFAULT_PREFIX) -> Bus:
    """The Redis bus when a URL is configured, else the in-process one."""
    if redis_url:
        return RedisBus(redis_url, prefix)
    return LocalBus()


def announce(redis_url: str | None, topic: Topic, data: Data, prefix: str = DEFAULT_PREFIX) -> bool:
    """Tell running servers now, from a command that is not one (the CLI). Without Redis, or
    when it is down, servers still notice within their licence watch interval: False then."""
    if not redis_url:
        return False
    # Patient: an operator's command may wait a few seconds on a busy Redis, a chat may not.
    client = SyncRedis.from_url(redis_url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        client.publish(prefix + CHANNEL, encode(f"cli-{os.getpid()}", topic, data))
    except (RedisError, OSError) as exc:
        log.warning("could not tell running servers at once (%r); they notice within seconds", exc)
        return False
    finally:
        client.close()
    return True
