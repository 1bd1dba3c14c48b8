"""The lease of a held ``Idempotency-Key``, renewed while its request is storing and answering.

A retry takes a key over only once its lease has ended, taking the holder for dead; so a living
holder renews it (three times a lease) until its answer is stored, however long the answer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from functools import partial

from bot.chat.services import ChatServices
from core.chat import idempotency

log = logging.getLogger("kefu.api")


def lease_of(services: ChatServices) -> timedelta:
    return timedelta(seconds=services.settings.api_idempotency_lease_seconds)


class KeptLease:
    """Renews the key's lease for ``client_id`` until ``stop``."""

    def __init__(self, services: ChatServices, licensee_id: str, key: str, client_id: str) -> None:
        self.s = services
        self.licensee_id = licensee_id
        self.key = key
        self.client_id = client_id
        self._task = asyncio.create_task(self._keep())

    async def _keep(self) -> None:
        lease = lease_of(self.s)
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                held = await self.s.db.write(
                    partial(
                        idempotency.renew,
                        licensee_id=self.licensee_id,
                        key=self.key,
                        client_id=self.client_id,
                        now=self.s.clock(),
                        lease=lease,
                    )
                )
            except Exception as exc:  # the next round tries again; the lease may yet hold
                log.warning("renewing an Idempotency-Key's lease failed: %r", exc)
                continue
            if not held:  # given back, or taken over after all
                return

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
