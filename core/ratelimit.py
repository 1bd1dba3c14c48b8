"""Per-bucket rate limits (GCRA) with an in-process backend and a shared Redis backend."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import ClassVar, NamedTuple, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = [
    "Decision",
    "MemoryRateLimiter",
    "Rate",
    "RateLimiter",
    "RedisRateLimiter",
    "gcra",
    "make_rate_limiter",
]

log = logging.getLogger(__name__)

_UNIT_SECONDS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_RATE_RE = re.compile(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)", re.ASCII)


@dataclass(frozen=True)
class Rate:
    """``count`` requests at once (the burst), refilling at ``count / per_seconds`` per second."""

    count: int
    per_seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"rate count must be a positive integer, got {self.count!r}")
        if not (math.isfinite(self.per_seconds) and self.per_seconds > 0):
            raise ValueError(
                f"rate period must be a positive number of seconds, got {self.per_seconds!r}"
            )

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``"20/10s"``, ``"600/min"``, ``"30/h"``, ``"5/s"`` (units: s, min, h, d)."""
        m = _RATE_RE.fullmatch(text.strip().lower())
        if m is None:
            raise ValueError(
                f"invalid rate {text!r}: expected COUNT/[N]UNIT such as '20/10s', '600/min', "
                "'30/h' or '5/s'"
            )
        count_s, multiple_s, unit = m.groups()
        if unit not in _UNIT_SECONDS:
            raise ValueError(f"invalid rate {text!r}: unknown unit {unit!r} (use s, min, h or d)")
        multiple = float(multiple_s) if multiple_s is not None else 1.0
        return cls(int(count_s), multiple * _UNIT_SECONDS[unit])

    @property
    def interval(self) -> float:
        """Seconds between requests at the sustained rate (the GCRA emission interval)."""
        return self.per_seconds / self.count

    def __str__(self) -> str:
        per = float(self.per_seconds)
        return f"{self.count}/{int(per) if per.is_integer() else per!r}s"


class Decision(NamedTuple):
    allowed: bool
    new_tat: float
    retry_after: float


def gcra(tat: float, now: float, rate: Rate) -> Decision:
    """One GCRA step: may a request arriving at ``now`` pass, given the bucket's stored TAT?

    ``tat`` is the bucket's theoretical arrival time; pass ``now`` (or any past time) for a
    bucket with no state. A refused request does not consume budget, so ``new_tat`` is then
    the unchanged TAT. ``retry_after`` is 0.0 when allowed, else > 0.

    Mirrored line for line by the Lua script of :class:`RedisRateLimiter`.
    """
    tat = max(tat, now)
    new_tat = tat + rate.interval
    allow_at = new_tat - rate.per_seconds
    # TATs are built by repeated float additions; without slack the last request of a
    # burst (e.g. the 600th of 600/min at wall-clock magnitudes) could be refused by
    # rounding. The slack bounds the error of `count` additions at this magnitude, and is
    # capped well below one interval so that it can never admit an extra request.
    slack = min(rate.count * max(abs(now), abs(new_tat)) * 2.0**-52, rate.interval / 4)
    wait = allow_at - now
    if wait > slack:
        return Decision(False, tat, wait)
    return Decision(True, new_tat, 0.0)


class RateLimiter(Protocol):
    async def hit(self, bucket: str, rate: Rate, now: float | None = None) -> float | None:
        """Count one request against ``bucket``: None if allowed, else seconds to wait (> 0)."""
        ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Single-process limiter: a dict of TATs on the event loop (no locking needed).

    An entry whose TAT is in the past is equivalent to no entry, so those are swept when the
    dict reaches a high-water mark; the mark is then set to twice the survivors, which makes
    the sweep O(1) amortised per new bucket. If live entries alone would exceed
    ``max_buckets``, the least recently charged ones are dropped (they get a fresh budget):
    memory stays bounded even under a flood of distinct buckets.
    """

    _MIN_HIGH_WATER: ClassVar[int] = 1024

    def __init__(
        self, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_buckets < 4:
            raise ValueError("max_buckets must be at least 4")
        self._max_buckets = max_buckets
        self._clock = clock
        # Insertion order doubles as recency order: a charged bucket is re-inserted at the end.
        self._tats: dict[str, float] = {}
        self._high_water = min(max_buckets, self._MIN_HIGH_WATER)
        self.swept = 0  # buckets looked at by sweeps so far: what the amortisation bounds

    def __len__(self) -> int:
        return len(self._tats)

    async def hit(self, bucket: str, rate: Rate, now: float | None = None) -> float | None:
        if now is None:
            now = self._clock()
        old = self._tats.get(bucket)
        decision = gcra(now if old is None else old, now, rate)
        if not decision.allowed:
            return decision.retry_after
        if old is None:
            if len(self._tats) >= self._high_water:
                self._make_room(now)
        else:
            del self._tats[bucket]
        self._tats[bucket] = decision.new_tat
        return None

    def _make_room(self, now: float) -> None:
        self.swept += len(self._tats)
        # Rebuilding (rather than deleting in place) lets the dict's storage shrink too.
        live = {k: t for k, t in self._tats.items() if t > now}
        # Keep a quarter of the capacity free so the next sweep is max_buckets/4 inserts away.
        excess = len(live) - self._max_buckets * 3 // 4
        if excess > 0:
            for key in list(islice(live, excess)):
                del live[key]
            log.warning("in-memory rate limiter full: reset %d least recently used buckets", excess)
        self._tats = live
        self._high_water = min(self._max_buckets, max(self._MIN_HIGH_WATER, 2 * len(live)))

    async def aclose(self) -> None:
        self._tats.clear()


# Same arithmetic as gcra(). Time comes from the Redis server so that all processes share
# one clock; ARGV[3] optionally overrides it (tests). Floats travel as '%.17g' strings:
# Lua's default number formatting keeps only 14 digits and Redis would truncate a number
# reply to an integer.
_GCRA_LUA = """
local period = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = period / count
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - period
local slack = math.min(count * math.max(math.abs(now), math.abs(new_tat)) * 2 ^ -52, interval / 4)
local wait = allow_at - now
if wait > slack then
  return {0, string.format('%.17g', wait)}
end
-- The key lives exactly until its TAT, when it would be equivalent to no key. A clock handed in
-- (ARGV[3]) does not move with Redis's own, which times the expiry: the key then lives a minute
-- at least, so that real time passing cannot empty a bucket the given clock still holds full.
local ttl = math.max(1, math.ceil((new_tat - now) * 1000))
if ARGV[3] then
  ttl = math.max(ttl, 60000)
end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl)
return {1, '0'}
"""


# Several buckets in one call, charged in order up to the first full one (which, and those after
# it, are not charged): what charging them one ``hit`` at a time does, in one round trip.
# ARGV[1] is a clock override or ''; then a period and a count per key.
_GCRA_ALL_LUA = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
for i = 1, #KEYS do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  local interval = period / count
  local tat = tonumber(redis.call('GET', KEYS[i]) or '')
  if tat == nil or tat < now then
    tat = now
  end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  local slack = math.min(count * math.max(math.abs(now), math.abs(new_tat)) * 2 ^ -52,
    interval / 4)
  local wait = allow_at - now
  if wait > slack then
    return {0, string.format('%.17g', wait)}
  end
  local ttl = math.max(1, math.ceil((new_tat - now) * 1000))
  if ARGV[1] ~= '' then
    ttl = math.max(ttl, 60000)
  end
  redis.call('SET', KEYS[i], string.format('%.17g', new_tat), 'PX', ttl)
end
return {1, '0'}
"""


class RedisRateLimiter:
    """Limiter shared by several processes: one atomic Lua GCRA step per hit in Redis.

    Uses the Redis server clock (``TIME``), so processes with skewed clocks still agree;
    keys expire when their bucket is full again, so idle buckets cost nothing.

    Falls back to ``fallback`` (this process's own buckets; none: allow) if Redis cannot be
    reached or errors, and logs a warning at most once per minute: limits then hold per
    process, and the chat itself never waits on an outage of the cache. After a failure Redis
    is not asked again for ``outage_backoff`` seconds, so a hung Redis does not add a timeout to
    every message.
    ``clock`` (seconds) times that backoff and the warnings, never the buckets.
    """

    _WARN_EVERY: ClassVar[float] = 60.0

    def __init__(
        self,
        url: str,
        prefix: str = "kefu:rl:",
        *,
        timeout: float = 0.5,
        outage_backoff: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        fallback: RateLimiter | None = None,
    ) -> None:
        self._prefix = prefix
        self._fallback = fallback
        self._clock = clock
        self._outage_backoff = outage_backoff
        # redis-py's default retry policy (10 retries with backoff) would stall a chat message
        # for seconds during an outage; one immediate retry still covers a stale pooled socket.
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._redis.register_script(_GCRA_LUA)
        self._script_all = self._redis.register_script(_GCRA_ALL_LUA)
        self._skip_until = -math.inf
        self._last_warning = -math.inf

    async def hit(self, bucket: str, rate: Rate, now: float | None = None) -> float | None:
        """``now`` overrides the Redis server clock; leave it None outside tests."""
        if self._clock() < self._skip_until:
            return await self._local(bucket, rate, now)
        args: list[str] = [repr(float(rate.per_seconds)), str(rate.count)]
        if now is not None:
            args.append(repr(float(now)))
        try:
            reply = await self._script(keys=[self._prefix + bucket], args=args)
        except (RedisError, OSError) as exc:
            self._fail_open(exc)
            return await self._local(bucket, rate, now)
        allowed, wait = reply
        if int(allowed):
            return None
        return float(wait)

    async def hit_all(
        self, hits: Sequence[tuple[str, Rate]], now: float | None = None
    ) -> float | None:
        """``hit`` each bucket in order, stopping at the first full one, in one round trip
        (with several workers each message charges two or three buckets)."""
        if self._clock() < self._skip_until:
            return await self._local_all(hits)
        args = ["" if now is None else repr(float(now))]
        for _bucket, rate in hits:
            args += [repr(float(rate.per_seconds)), str(rate.count)]
        keys = [self._prefix + bucket for bucket, _rate in hits]
        try:
            allowed, wait = await self._script_all(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._fail_open(exc)
            return await self._local_all(hits)
        return None if int(allowed) else float(wait)

    async def _local_all(self, hits: Sequence[tuple[str, Rate]]) -> float | None:
        for bucket, rate in hits:
            wait = await self._local(bucket, rate, None)
            if wait is not None:
                return wait
        return None

    async def _local(self, bucket: str, rate: Rate, now: float | None) -> float | None:
        # The fallback keeps its own clock: ``now`` is a Redis-clock override for tests.
        return None if self._fallback is None else await self._fallback.hit(bucket, rate)

    def _fail_open(self, exc: BaseException) -> None:
        mono = self._clock()
        self._skip_until = mono + self._outage_backoff
        if mono - self._last_warning >= self._WARN_EVERY:
            self._last_warning = mono
            # The URL is not logged: it may carry a password.
            log.warning("rate limiter: Redis unavailable, limits per process meanwhile (%r)", exc)

    async def aclose(self) -> None:
        await self._redis.aclose()
        if self._fallback is not None:
            await self._fallback.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """The shared Redis limiter when a URL is configured, else the in-process one."""
    if redis_url:
        return RedisRateLimiter(redis_url, fallback=MemoryRateLimiter())
    return MemoryRateLimiter()
