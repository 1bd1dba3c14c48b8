"""Addresses refused too often: struck past their rate, refused until it has room again."""

from __future__ import annotations

import pytest

from bot.chat.penalties import Penalties
from core.ratelimit import Rate

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_an_address_is_refused_only_past_its_rate_and_until_it_has_room() -> None:
    clock = Clock()
    penalties = Penalties(Rate(3, 30.0), clock)
    for _ in range(3):
        assert not await penalties.strike("198.51.100.7")
    assert penalties.refused_for("198.51.100.7") is None
    assert await penalties.strike("198.51.100.7")
    left = penalties.refused_for("198.51.100.7")
    assert left is not None and 9 < left <= 10  # one strike refills in 10 s
    assert penalties.refused_for("198.51.100.8") is None  # another address is not touched
    clock.now += 10.01
    assert penalties.refused_for("198.51.100.7") is None
    assert not await penalties.strike("198.51.100.7")


async def test_a_client_without_an_address_is_never_struck() -> None:
    penalties = Penalties(Rate(1, 60.0), Clock())
    for _ in range(5):
        assert not await penalties.strike(None)
    assert penalties.refused_for(None) is None


async def test_live_penalties_are_bounded() -> None:
    clock = Clock()
    penalties = Penalties(Rate(1, 60.0), clock, max_addresses=4)
    for i in range(10):
        await penalties.strike(f"a{i}")
        assert await penalties.strike(f"a{i}")  # still refused at its socket when full
    assert len(penalties._until) <= 4
