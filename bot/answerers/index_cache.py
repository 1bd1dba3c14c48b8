"""One retrieval index per licensee and KB version, built off the event loop and shared."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import anyio.to_thread

from bot import collector
from bot.answerers.contract import KnowledgeIndex
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.knowledge.store import load_entries

log = logging.getLogger(__name__)

# Builds the index of (licensee id, its entries).
IndexBuilder = Callable[[str, Sequence[KbEntry]], KnowledgeIndex]


class IndexCache:
    def __init__(
        self,
        db: Database,
        build: IndexBuilder,
        stale: Callable[[KnowledgeIndex], bool] = lambda index: False,
    ) -> None:
        self._db = db
        self._build = build
        # An index built before the sentence encoder finished loading is rebuilt once it has.
        self._stale = stale
        self._ready: dict[str, tuple[int, KnowledgeIndex]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[KnowledgeIndex]] = {}
        self._upgrades: set[asyncio.Task[KnowledgeIndex]] = set()

    async def get(self, licensee_id: str, version: int) -> KnowledgeIndex:
        ready = self._ready.get(licensee_id)
        if ready is not None and ready[0] >= version:
            if self._stale(ready[1]) and (licensee_id, ready[0]) not in self._pending:
                # Rebuilt in the background: questions meanwhile get the index they had.
                task = asyncio.create_task(self._get(licensee_id, ready[0]))
                self._upgrades.add(task)
                task.add_done_callback(self._upgraded)
            return ready[1]
        return await self._get(licensee_id, version)

    def _upgraded(self, task: asyncio.Task[KnowledgeIndex]) -> None:
        self._upgrades.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "rebuilding an index with the sentence encoder failed: %s", task.exception()
            )

    async def _get(self, licensee_id: str, version: int) -> KnowledgeIndex:
        key = (licensee_id, version)
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pending[key] = pending
            try:
                index = await anyio.to_thread.run_sync(self._load, licensee_id)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # mark retrieved: waiters (if any) re-raise it themselves
                raise
            finally:
                self._pending.pop(key, None)
            self._ready[licensee_id] = (version, index)
            collector.freeze_long_lived("an index build")  # it lives until the next version
            pending.set_result(index)
            return index
        return await asyncio.shield(pending)

    def _load(self, licensee_id: str) -> KnowledgeIndex:
        with self._db.read_session() as session:
            entries = load_entries(session, licensee_id)
        return self._build(licensee_id, entries)

    def invalidate(self, licensee_id: str) -> None:
        self._ready.pop(licensee_id, None)
