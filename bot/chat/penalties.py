"""Client addresses that keep being refused: their next handshakes are refused before any work.

Refusing a frame is cheap, but an attacker who is refused just reconnects and sends again, and
each new socket costs the handshake, the key's check in the database and a ``hello`` before the
limits can say no. So every refusal (a bad frame, a rate-limited frame) is a strike against the
client's address; once an address has more strikes than its rate allows, the socket that took
the last one is closed and the address's new sockets are refused (HTTP 429) before the key is
looked up, until the rate has room again. Behind the rate, refusals stay as they were: an honest
end user who is told to wait a few times never meets this.

In this process only: the work it saves is this process's event loop's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.ratelimit import MemoryRateLimiter, Rate

DEFAULT_RATE = Rate(30, 60.0)  # the setting's default (rate_address_refusals)
# A refused handshake is answered after this long: a client looping on refusals is slowed to
# one try a second per connection instead of costing the loop thousands of refusals a second.
REFUSAL_DELAY = 1.0


class Penalties:
    def __init__(
        self,
        rate: Rate = DEFAULT_RATE,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._strikes = MemoryRateLimiter(max_addresses, clock)
        self._until: dict[str, float] = {}
        self._max = max_addresses

    async def strike(self, address: str | None) -> bool:
        """Count one refusal against ``address``; True when it is over its rate (and refused
        until there is room again). An unknown address (a secret key's client) is never struck."""
        if address is None:
            return False
        wait = await self._strikes.hit(address, self._rate)
        if wait is None:
            return False
        if len(self._until) >= self._max:
            now = self._clock()
            self._until = {a: t for a, t in self._until.items() if t > now}
            if len(self._until) >= self._max:
                return True  # full of live penalties: this one is still refused at its socket
        self._until[address] = self._clock() + wait
        return True

    def refused_for(self, address: str | None) -> float | None:
        """Seconds ``address``'s new sockets are still refused for, or None."""
        if address is None:
            return None
        until = self._until.get(address)
        if until is None:
            return None
        left = until - self._clock()
        if left <= 0:
            del self._until[address]
            return None
        return left
