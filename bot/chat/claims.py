"""The visitor messages being stored or answered, so that no other tab answers them too.

A message is claimed while it is being stored (a duplicate send from another tab may be on its
way), while its answer runs, and while a hello decides to resume it. A hello that finds a stored
but unanswered question answers it only when nobody holds a claim on it. Claims count: the same
message may be held several times at once (fifty sends of one id from five tabs) and is free
again when every holder has let go.

With several processes the tabs of one end user may sit on different workers, so a claim is
also held in Redis (``SharedClaims``): a hash per message with one field per holding process,
kept alive by its holders and expiring ``CLAIM_TTL_SECONDS`` after they let go or died. Taking
a free message at a hello is one atomic step in Redis, so two workers' hellos never both take
it.
While Redis is down, claims are this process's alone (logged; the bus reports the outage).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("kefu.chat")

# A dead holder's claims outlive it by at most this; live holders renew theirs every third of it.
# Long enough that a busy event loop never lets a live claim lapse, short enough that a
# question cut off by a killed worker is answered at a hello a few seconds later.
CLAIM_TTL_SECONDS = 10.0


class MessageKey(NamedTuple):
    """One visitor message, by the client's id."""

    licensee_id: str
    visitor_id: str
    client_id: str


# Take the message only when no process holds it: the check and the hold in one step.
_TAKE_FREE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


# Hold the message for this process, in one command (a MULTI/EXEC pipeline costs the client
# four commands' CPU on every visitor message).
_HOLD_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class SharedClaims:
    """Claims of every process, in Redis; every method falls back to "this process only"."""

    _WARN_EVERY = 60.0

    def __init__(self, url: str, prefix: str, *, timeout: float = 0.5) -> None:
        self.holder = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._prefix = prefix + "claim:"
        self._ttl_ms = int(CLAIM_TTL_SECONDS * 1000)
        self._redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        self._take_free = self._redis.register_script(_TAKE_FREE_LUA)
        self._hold = self._redis.register_script(_HOLD_LUA)
        self.problem: str | None = None
        self._last_warning = -math.inf

    def name(self, key: MessageKey) -> str:
        return f"{self._prefix}{key.licensee_id}:{key.visitor_id}:{key.client_id}"

    def _trouble(self, exc: BaseException) -> None:
        self.problem = type(exc).__name__
        now = time.monotonic()
        if now - self._last_warning >= self._WARN_EVERY:
            self._last_warning = now
            log.warning("claims: Redis unavailable, this process's claims only (%r)", exc)

    async def hold(self, key: MessageKey) -> None:
        try:
            await self._hold(keys=[self.name(key)], args=[self.holder, self._ttl_ms])
        except (RedisError, OSError) as exc:
            self._trouble(exc)
        else:
            self.problem = None

    async def take_free(self, key: MessageKey) -> bool:
        try:
            taken = await self._take_free(keys=[self.name(key)], args=[self.holder, self._ttl_ms])
        except (RedisError, OSError) as exc:
            self._trouble(exc)
            return True
        self.problem = None
        return bool(int(taken))

    async def renew(self, keys: Iterable[MessageKey]) -> None:
        """Keep this process's claims alive (and put back those Redis lost in an outage)."""
        keys = list(keys)
        if not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hset(self.name(key), self.holder, 1)
                    pipe.pexpire(self.name(key), self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._trouble(exc)
        else:
            self.problem = None

    async def aclose(self) -> None:
        await self._redis.aclose()


class Claims:
    def __init__(self, shared: SharedClaims | None = None) -> None:
        self._holders: Counter[MessageKey] = Counter()
        self.shared = shared

    def __len__(self) -> int:
        return len(self._holders)

    def held(self, key: MessageKey) -> bool:
        """Whether this process holds ``key``."""
        return key in self._holders

    def claim(self, key: MessageKey) -> Claim:
        """Hold ``key`` here until the returned claim is released (or its ``with`` block ends)."""
        self._holders[key] += 1
        return Claim(self, key)

    async def acquire(self, key: MessageKey) -> Claim:
        """Hold ``key`` in every process's view (Redis too, once it returns)."""
        claim = self.claim(key)
        if self.shared is not None:
            await self.shared.hold(key)
        return claim

    async def take_free(self, keys: Iterable[MessageKey]) -> list[Claim]:
        """Claims on those of ``keys`` that no process holds, each taken in one atomic step."""
        taken: list[Claim] = []
        for key in keys:
            if self.held(key):
                continue
            claim = self.claim(key)  # first, so that no other tab of this process takes it
            if self.shared is not None and not await self.shared.take_free(key):
                claim.release()
                continue
            taken.append(claim)
        return taken

    async def renew_forever(self) -> None:
        """Keep this process's shared claims alive until cancelled."""
        if self.shared is None:
            return
        while True:
            await asyncio.sleep(CLAIM_TTL_SECONDS / 3)
            await self.shared.renew(list(self._holders))

    def _release(self, key: MessageKey) -> None:
        self._holders[key] -= 1
        if self._holders[key] <= 0:
            del self._holders[key]
            # The shared claim is left to expire rather than deleted: by now the question is
            # answered (no hello looks at it again) or its answer could not be stored, and then
            # a hello resumes it once the claim has expired. Deleting it cost a Redis round trip
            # on every message of every worker.

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()


@dataclass(eq=False, slots=True)
class Claim:
    """One hold on a message; releasing it twice lets go only once."""

    claims: Claims
    key: MessageKey
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.claims._release(self.key)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.release()
