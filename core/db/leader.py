"""Which process runs the jobs (sweeper, billing): one leader per database at a time.

On PostgreSQL the leader is the process holding a session-level advisory lock on a connection
of its own. PostgreSQL lets go of the lock when that connection ends, so when the leader dies
(even ``kill -9``: the kernel closes its socket) another process takes over at its next
``check``, a second or so later. The leader checks its connection on every ``check`` and stops
leading the moment it is lost. On SQLite, where only one server process may run, the process is
simply the leader.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger("kefu.leader")

# One lock per schema: several installations (or test runs) may share one database.
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext('kefu.jobs'), hashtext(current_schema()))")
# The leader's connection must notice a vanished network, not only a closed socket.
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
}


class Leadership:
    """Call ``check()`` (blocking: from a thread) every second or so; read ``is_leader``."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._engine: Engine | None = None
        self.is_leader = not parsed.drivername.startswith("postgresql")
        if not self.is_leader:
            pg = parsed.set(drivername="postgresql+psycopg")
            options = {"connect_timeout": 2, **_KEEPALIVE}
            self._engine = create_engine(pg, poolclass=NullPool, connect_args=options)
        self._conn: Connection | None = None

    def check(self) -> bool:
        """Take the lead if it is free; keep it while the connection lives. Never raises."""
        if self._engine is None:
            return True
        try:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.is_leader:
                self._conn.execute(text("SELECT 1"))
            elif self._conn.execute(_TRY_LOCK).scalar():
                self.is_leader = True
                log.info("this process now runs the jobs (sweeper, billing)")
        except Exception as exc:
            if self.is_leader:
                log.warning("lost the database connection: no longer running the jobs (%r)", exc)
            self.is_leader = False
            self._drop()
        return self.is_leader

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: S110 - the connection is already gone
                pass
            self._conn = None

    def close(self) -> None:
        """Give the lead up at once (a graceful stop): another process takes over at its next
        check."""
        if self.is_leader and self._conn is not None:
            # Explicitly: the server lets go of a closed connection's locks a moment later.
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
        self.is_leader = self._engine is None
        self._drop()
        if self._engine is not None:
            self._engine.dispose()
