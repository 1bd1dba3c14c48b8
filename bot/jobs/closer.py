"""The closing job: revokes licences a month past their end, archives and purges their data.

Runs inside ``kefu serve`` every ``KEFU_CLOSURE_INTERVAL_SECONDS``; each pass does whatever is
due by then, so a server that was down catches up on its first pass. Several server processes
may run it at once: core.licensing.closure lets one of them do each step, once. Sockets of a
revoked licence, in this process or another, are closed by the licence watcher.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.chat.services import ChatServices
from core.licensing.closure import ClosureRun, run_due, worker_name
from core.settings import archive_directory

log = logging.getLogger("kefu.jobs")


class Closer:
    def __init__(self, services: ChatServices) -> None:
        self.s = services
        self.worker = worker_name()
        self.directory = archive_directory(services.settings)

    async def run_once(self, now: datetime | None = None) -> ClosureRun:
        """One pass at ``now`` (the services' clock by default)."""
        moment = now or self.s.clock()
        run = await asyncio.to_thread(run_due, self.s.db, self.directory, self.worker, moment)
        for licensee_id in run.revoked:
            log.info("licence %s revoked: a month past its service end", licensee_id)
        for licensee_id in run.purged:
            log.info("licensee %s: data archived and purged", licensee_id)
        return run
