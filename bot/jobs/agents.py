"""Agent consoles over time: every process tells the database which consoles it holds (so
requests see who is signed in), and the leader queues again the conversations of agents gone
longer than their licensee's grace period (a crashed server's agents included)."""

from __future__ import annotations

from bot.chat.services import ChatServices
from core.chat import handoff


async def heartbeat(services: ChatServices) -> None:
    agents = services.desk.agents_here()
    if agents:
        now = services.clock()
        await services.db.write(lambda s: handoff.seen(s, agents, now))


async def return_lost(services: ChatServices) -> int:
    now, ttl = services.clock(), services.desk.presence_ttl
    back = await services.db.write(lambda s: handoff.return_lost(s, now, ttl))
    if back:
        await services.desk.returned(back)
    return len(back)
