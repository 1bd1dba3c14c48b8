"""The idle sweeper: ends every lapsed unit (idle time or 24-hour cap) and tells its widgets."""

from __future__ import annotations

from bot.chat.services import ChatServices
from core.chat import conversations as units


async def sweep_once(services: ChatServices) -> int:
    """End every lapsed unit, a batch per transaction, and push ``ended``; returns the count."""
    total = 0
    while True:
        endings = await services.store.sweep(services.clock())
        for ending in endings:
            await services.tell_ended(ending)
        total += len(endings)
        if len(endings) < units.SWEEP_BATCH:
            return total
