"""The chat server's periodic work: the idle sweeper and the licence watcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from sqlmodel import col, select

from bot.chat.hub import Link
from bot.chat.services import ChatServices
from bot.chat.session import ChatSession, push_ended, ref
from core.chat import conversations as units
from core.chat.frames import Ended, EndReason, ServerFrame
from core.db.tables import ApiKey, LicenceStatus, Licensee
from core.errors import LicenceUnavailable
from core.licensing import maintenance
from core.licensing.licensees import licence_availability

log = logging.getLogger("kefu.background")


async def sweep_once(services: ChatServices) -> int:
    """End every lapsed unit (idle or 24-hour cap) and tell connected widgets; returns count."""
    total = 0
    while True:
        endings = await services.write(partial(units.sweep, now=services.clock()))
        for ending in endings:
            await push_ended(services.hub, ending)
        total += len(endings)
        if len(endings) < units.SWEEP_BATCH:
            return total


def _session(link: Link) -> ChatSession:
    session: ChatSession = link.extra["session"]
    return session


class LicenceWatcher:
    """Applies changes made elsewhere (CLI, another process) to this process's open sockets."""

    def __init__(self, services: ChatServices) -> None:
        self.s = services
        self._seen: dict[str, datetime] = {}

    async def check_once(self) -> None:
        await asyncio.to_thread(self.s.load_maintenance)
        hub = self.s.hub
        now = self.s.clock()
        for licensee_id in hub.licensee_ids():
            active, _ = maintenance.for_licensee(self.s.maintenance, licensee_id, now)
            if active is not None:
                for link in hub.of_licensee(licensee_id):
                    await _session(link).shut("maintenance", [], active)
        ids = hub.licensee_ids()
        if not ids:
            return
        key_ids = sorted(hub.key_ids())

        def load() -> tuple[list[Licensee], list[str]]:
            with self.s.db.read_session() as session:
                licensees = session.exec(select(Licensee).where(col(Licensee.id).in_(ids)))
                revoked = session.exec(
                    select(ApiKey.id).where(
                        col(ApiKey.id).in_(key_ids), col(ApiKey.revoked_at).is_not(None)
                    )
                )
                return list(licensees), list(revoked)

        licensees, revoked = await asyncio.to_thread(load)
        for licensee in licensees:
            if self._seen.get(licensee.id) != licensee.updated_at:
                self._seen[licensee.id] = licensee.updated_at
                await self.apply(licensee)
        for key_id in revoked:
            for link in hub.of_key(key_id):
                await _session(link).shut("revoked", [])

    async def apply(self, licensee: Licensee) -> None:
        links = self.s.hub.of_licensee(licensee.id)
        for link in links:
            session = _session(link)
            if session.licensee.kb_version != licensee.kb_version:
                self.s.index_cache.invalidate(licensee.id)
            session.licensee = licensee
        try:
            licence_availability(licensee, self.s.clock())
        except LicenceUnavailable as exc:
            if licensee.status == LicenceStatus.SUSPENDED:
                # Suspension ends every open unit (rule 2); the CLI already did, this is idempotent.
                await self.s.write(
                    partial(
                        units.end_all_open,
                        licensee_id=licensee.id,
                        reason=EndReason.SUSPENDED,
                        now=self.s.clock(),
                    ),
                )
            for link in links:
                frames: list[ServerFrame] = []
                if link.conversation is not None:
                    frames.append(
                        Ended(conversation=ref(link.conversation), reason=EndReason.SUSPENDED)
                    )
                await _session(link).shut(exc.kind, frames)


async def run_periodic(
    interval: float, step: Callable[[], Awaitable[object]], name: str, stop: asyncio.Event
) -> None:
    """Run ``step()`` every ``interval`` seconds until ``stop`` is set; a failing step is logged.

    Stopping is cooperative, never a cancel: a step may be inside a database thread, and the
    database must not be closed under it.
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await step()
        except Exception:
            log.exception("%s failed", name)
