"""What every console request needs: settings, the database, the rate limiter and the hooks
``kefu`` passes in (callables that need the chat server, which admin may not import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    login_rate: Rate = field(init=False)

    def __post_init__(self) -> None:
        try:  # a bad setting stops the server at start, not each sign-in
            self.login_rate = Rate.parse(self.settings.rate_address_logins)
        except ValueError as exc:
            raise ConfigError(f"KEFU_RATE_ADDRESS_LOGINS: {exc}") from None
