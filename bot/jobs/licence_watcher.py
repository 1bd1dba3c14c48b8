"""The licence watcher: applies licence changes made elsewhere to this process's open sockets.

It runs when told: by a bus signal (the CLI, the console, or the leader's round over every
licensee, bot.jobs.licence_changes), or by this process's own timer only while the bus cannot
reach it (Redis down, or no Redis with several processes). Changes come through the database: a new
maintenance window, a revoked key (site or secret: whichever a socket was opened with), a
suspended or lapsed licence, a new knowledge-base version.
The watcher writes nothing: suspending a licensee ends its open units in the same transaction
(core.licensing.suspension); here the sockets are only told (``ended``, a notice, 4403).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.chat.services import ChatServices
from bot.chat.wire import ref
from core.chat.frames import Ended, EndReason, ServerFrame
from core.db.tables import Licensee
from core.errors import LicenceUnavailable
from core.licensing import maintenance
from core.licensing.licensees import licence_availability


def verdict(licensee: Licensee, now: datetime) -> str:
    """What the licence allows now: in term, beyond term, or why it may not serve. It changes
    without the row changing when a term lapses."""
    try:
        return str(licence_availability(licensee, now).value)
    except LicenceUnavailable as exc:
        return exc.kind


class LicenceWatcher:
    def __init__(self, services: ChatServices) -> None:
        self.s = services
        self._seen: dict[str, tuple[datetime, int, str]] = {}
        self._checking = False
        self._again = False

    async def check_soon(self) -> None:
        """``check_once`` now, or once more right after the one running (bus signals come in
        bursts: one suspension is one signal per worker, a revocation one per key)."""
        if self._checking:
            self._again = True
            return
        self._checking = True
        try:
            self._again = True
            while self._again:
                self._again = False
                await self.check_once()
        finally:
            self._checking = False

    async def check_once(self) -> None:
        await asyncio.to_thread(self.s.load_maintenance)
        hub = self.s.hub
        now = self.s.clock()
        for licensee_id in hub.licensee_ids():
            active, _ = maintenance.for_licensee(self.s.maintenance, licensee_id, now)
            if active is not None:
                for session in hub.of_licensee(licensee_id):
                    await session.shut("maintenance", [], active)
        ids = hub.licensee_ids()
        if not ids:
            return
        licensees, revoked = await self.s.store.licences(ids, sorted(hub.key_ids()))
        for licensee in licensees:
            state = (licensee.updated_at, licensee.kb_version, verdict(licensee, now))
            if self._seen.get(licensee.id) != state:
                self._seen[licensee.id] = state
                await self.apply(licensee)
        # A session opened with a secret key is filed under it and its site key: shut once.
        for session in {s for key_id in revoked for s in hub.of_key(key_id)}:
            if not session.closed:
                await session.shut("revoked", [])

    async def apply(self, licensee: Licensee) -> None:
        """Hand the licensee's new row to its sessions; close them if it may no longer serve."""
        sessions = self.s.hub.of_licensee(licensee.id)
        for session in sessions:
            if session.licensee.kb_version != licensee.kb_version:
                self.s.index_cache.invalidate(licensee.id)
            session.licensee = licensee
        try:
            licence_availability(licensee, self.s.clock())
        except LicenceUnavailable as exc:
            for session in sessions:
                frames: list[ServerFrame] = []
                if session.conversation is not None:
                    frames.append(
                        Ended(conversation=ref(session.conversation), reason=EndReason.SUSPENDED)
                    )
                await session.shut(exc.kind, frames)
