"""What other processes tell this one's sockets: units ended there, licence changes at once.

The bus carries hints, the database the state (core.bus): an ``ended`` signal says which unit
ended, and every other signal only makes the licence watcher read the database now instead of
at its next round.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from core.bus import Data, Topic
from core.chat import conversations as units
from core.chat.frames import EndReason

if TYPE_CHECKING:
    from bot.chat.hub import Hub
    from bot.jobs.licence_watcher import LicenceWatcher

# Signals that mean "a licence, key or maintenance window may have changed: read them again".
_RECHECK = {Topic.LICENCE, Topic.KEY, Topic.MAINTENANCE, Topic.RESYNC}


def ending_data(ending: units.Ending) -> Data:
    conv = ending.conversation
    return {
        "licensee_id": ending.licensee_id,
        "visitor_id": ending.visitor_id,
        "conversation_id": conv.id,
        "started_at": conv.started_at.isoformat(),
        "test": conv.test,
        "reason": ending.reason.value,
        "ended_at": ending.ended_at.isoformat(),
    }


def ending_of(data: Data) -> units.Ending:
    conv = units.ConvRef(
        id=str(data["conversation_id"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        test=bool(data["test"]),
    )
    return units.Ending(
        conversation=conv,
        licensee_id=str(data["licensee_id"]),
        visitor_id=str(data["visitor_id"]),
        reason=EndReason(data["reason"]),
        ended_at=datetime.fromisoformat(data["ended_at"]),
    )


class Signals:
    """The bus handler of the chat server (``visitor`` and ``agent`` signals are for the
    hand-off's own handler, subscribed beside this one)."""

    def __init__(self, hub: Hub, watcher: LicenceWatcher) -> None:
        self.hub = hub
        self.watcher = watcher

    async def __call__(self, topic: Topic, data: Data) -> None:
        if topic == Topic.ENDED:
            ending = ending_of(data)
            if self.hub.of_visitor(ending.licensee_id, ending.visitor_id):
                await self.hub.push_ended(ending)
        elif topic in _RECHECK:
            await self.watcher.check_soon()
