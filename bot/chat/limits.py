"""The rate limits of end users' messages: which buckets a message hits, and whether it waits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.ratelimit import Rate, RateLimiter, RedisRateLimiter
from core.settings import Settings

_ADDRESS_MESSAGES = Rate(300, 10.0)  # the setting's default


@dataclass(frozen=True, slots=True)
class Limits:
    visitor_messages: Rate
    key_messages: Rate
    visitor_conversations: Rate
    key_conversations: Rate
    visitor_hellos: Rate
    address_hellos: Rate
    address_messages: Rate = _ADDRESS_MESSAGES  # per licensee and client address (bot/ws.py)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            visitor_messages=Rate.parse(settings.rate_visitor_messages),
            key_messages=Rate.parse(settings.rate_key_messages),
            visitor_conversations=Rate.parse(settings.rate_visitor_conversations),
            key_conversations=Rate.parse(settings.rate_key_conversations),
            visitor_hellos=Rate.parse(settings.rate_visitor_hellos),
            address_hellos=Rate.parse(settings.rate_address_hellos),
            address_messages=Rate.parse(settings.rate_address_messages),
        )


@dataclass(frozen=True, slots=True)
class Sender:
    """Whose message it is, as far as the limits care."""

    licensee_id: str
    visitor_id: str
    key_id: str


def buckets(limits: Limits, sender: Sender, opens: bool) -> list[tuple[str, Rate]]:
    """The buckets one message is counted against, in the order they are checked.

    Every message counts for its visitor and its key; one that may open a conversation (none is
    open on its socket) also counts against the conversation rates.
    """
    lic, visitor, key = sender.licensee_id, sender.visitor_id, sender.key_id
    hits = [
        (f"vm:{lic}:{visitor}", limits.visitor_messages),
        (f"km:{key}", limits.key_messages),
    ]
    if opens:
        hits += starts(limits, sender)
    return hits


def starts(limits: Limits, sender: Sender) -> list[tuple[str, Rate]]:
    """The buckets of starting a conversation: charged before the message that starts one is
    stored, whatever the socket believed (the store says when a message would start one)."""
    lic, visitor, key = sender.licensee_id, sender.visitor_id, sender.key_id
    return [
        (f"vc:{lic}:{visitor}", limits.visitor_conversations),
        (f"kc:{key}", limits.key_conversations),
    ]


def hellos(
    limits: Limits, licensee_id: str, visitor_id: str, address: str | None
) -> list[tuple[str, Rate]]:
    """The buckets of a ``hello``: per end user, and per client address when it is known."""
    hits = [(f"vh:{licensee_id}:{visitor_id}", limits.visitor_hellos)]
    if address is not None:
        hits.append((f"ah:{address}", limits.address_hellos))
    return hits


async def charge(limiter: RateLimiter, hits: list[tuple[str, Rate]]) -> float | None:
    """None when every bucket had room, else seconds until the first full one has (the buckets
    after it are not charged)."""
    if isinstance(limiter, RedisRateLimiter):  # one round trip, not one per bucket
        return await limiter.hit_all(hits)
    for bucket, rate in hits:
        wait = await limiter.hit(bucket, rate)
        if wait is not None:
            return wait
    return None


async def wait_for(
    limiter: RateLimiter, limits: Limits, sender: Sender, opens: bool, address: str | None = None
) -> float | None:
    """None when the message may pass, else seconds until it may. With the client's address,
    its bucket is checked first (charged to this licensee: one address, many sockets)."""
    hits = buckets(limits, sender, opens)
    if address is not None:
        hits.insert(0, (f"am:{sender.licensee_id}:{address}", limits.address_messages))
    return await charge(limiter, hits)


def retry_after(wait: float) -> float:
    """What ``error.retry_after`` says: the wait rounded up to a tenth of a second."""
    return math.ceil(wait * 10) / 10
