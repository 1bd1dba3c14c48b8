"""What every console request needs: settings, the database, the rate limiter and the hooks
``kefu`` passes in (callables that need the chat server, which admin may not import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.bus import Bus, Data, Topic
from core.db.engine import Database
from core.errors import ConfigError
from core.ratelimit import MemoryRateLimiter, Rate, RateLimiter
from core.settings import Settings


@dataclass
class AdminContext:
    settings: Settings
    db: Database
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    bus: Bus | None = None  # this process's bus: the chat server reacts at once to a change
    login_rate: Rate = field(init=False)

    def __post_init__(self) -> None:
        try:  # a bad setting stops the server at start, not each sign-in
            self.login_rate = Rate.parse(self.settings.rate_address_logins)
        except ValueError as exc:
            raise ConfigError(f"KEFU_RATE_ADDRESS_LOGINS: {exc}") from None

    async def tell(self, topic: Topic, data: Data) -> None:
        """Tell the chat server of a change: the ``changed`` hook acts on this process's own
        sockets and tells the others over the bus; without it, the bus alone (without Redis,
        other processes notice within their licence watch interval)."""
        changed = self.hooks.get("changed")
        if changed is not None:
            await changed(topic, data)
        elif self.bus is not None:
            await self.bus.publish(topic, data)
