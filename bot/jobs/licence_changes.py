"""The leader's half of the licence watch: notices licence changes of every licensee and tells
every process over the bus; each process then applies them to its own sockets
(bot.jobs.licence_watcher).

The CLI and the console announce their own changes at once; what nobody announces is seen here:
a licence whose term lapsed at midnight of its time zone, a maintenance window that starts, a
change made while Redis was down or by hand in the database. One process reads for all of them
instead of every process reading for its own sockets. When this process has just taken the lead
it cannot know what changed while nobody led, so its first round asks every process to read its
licensees again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from bot.chat.services import ChatServices
from bot.jobs.licence_watcher import LicenceWatcher, verdict
from core.bus import Topic
from core.db.tables import ApiKey, Licensee
from core.licensing.maintenance import current_and_upcoming


@dataclass
class _Seen:
    licensees: dict[str, tuple[datetime, int, str]] = field(default_factory=dict)
    revoked_since: datetime | None = None  # the latest revocation seen
    revoked_at_that_time: set[str] = field(default_factory=set)
    windows: set[str] = field(default_factory=set)  # maintenance windows seen active


@dataclass(frozen=True)
class Changes:
    licensees: list[str]
    keys: list[str]
    maintenance: bool

    def __bool__(self) -> bool:
        return bool(self.licensees or self.keys or self.maintenance)


class LicenceChanges:
    def __init__(self, services: ChatServices, watcher: LicenceWatcher) -> None:
        self.s = services
        self.watcher = watcher
        self._seen: _Seen | None = None

    def forget(self) -> None:
        """This process no longer leads: whoever leads next starts afresh."""
        self._seen = None

    async def round(self) -> Changes | None:
        """Read every licensee's state; tell every process what changed (None: a first round,
        everything was announced)."""
        first = self._seen is None
        seen = self._seen or _Seen()
        changes = await asyncio.to_thread(self._read, seen, self.s.clock())
        self._seen = seen
        bus = self.s.bus
        if first:
            await bus.publish(Topic.LICENCE, {})  # {}: every licensee
            await self.watcher.check_soon()
            return None
        for licensee_id in changes.licensees:
            await bus.publish(Topic.LICENCE, {"licensee_id": licensee_id})
        for key_id in changes.keys:
            await bus.publish(Topic.KEY, {"key_id": key_id})
        if changes.maintenance:
            await bus.publish(Topic.MAINTENANCE, {})
        if changes:  # the publisher acts on its own sockets itself
            await self.watcher.check_soon()
        return changes

    def _read(self, seen: _Seen, now: datetime) -> Changes:
        with self.s.db.read_session() as session:
            licensees = list(session.exec(select(Licensee)))
            since = seen.revoked_since
            query = select(ApiKey.id, ApiKey.revoked_at).where(col(ApiKey.revoked_at).is_not(None))
            if since is not None:
                query = query.where(col(ApiKey.revoked_at) >= since)
            revoked = [(key_id, at) for key_id, at in session.exec(query) if at is not None]
            windows = current_and_upcoming(session, now)
        changed = []
        for licensee in licensees:
            state = (licensee.updated_at, licensee.kb_version, verdict(licensee, now))
            if seen.licensees.get(licensee.id) != state:
                seen.licensees[licensee.id] = state
                changed.append(licensee.id)
        keys = sorted(key_id for key_id, _ in revoked if key_id not in seen.revoked_at_that_time)
        if revoked:
            latest = max(at for _, at in revoked)
            if seen.revoked_since is None or latest > seen.revoked_since:
                seen.revoked_since = latest
                seen.revoked_at_that_time = set()
            seen.revoked_at_that_time |= {key_id for key_id, at in revoked if at == latest}
        active = {w.id for w in windows if w.active(now)}
        started = bool(active - seen.windows)
        seen.windows = active
        return Changes(changed, keys, started)
