"""Which process runs the jobs (sweeper, billing, licence watch): one leader per database at a
time.

On PostgreSQL the leader is the process holding a session-level advisory lock on a connection
of its own. PostgreSQL lets go of the lock when that connection ends, so when the leader dies
(even ``kill -9``: the kernel closes its socket) another process takes the lock at its next
``check``, a second or so later.

Holding the lock is not enough to lead: a process learns that its connection died only at its
next check, and until then it would still believe it leads while another has already taken the
lock. So leading is a lease. A holder leads until ``lease`` after the start of its last check that
reached the server (its session was alive when that check was sent), and a process that has just
taken the lock waits ``lease`` before it leads: it took the lock after the old holder's session
ended, so after the old holder's last good check, whose lease has run out by then. At no instant
do two processes lead, whatever their checks see, as long as their clocks run at one rate. The
price is a takeover ``lease`` later than the lock allows. On SQLite, where only one server
process may run, the process is simply the leader.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable

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
    """Call ``check()`` (blocking: from a thread) every second or so; read ``is_leader`` (no
    I/O: it answers for this instant, from the last checks and the clock)."""

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = make_url(url)
        self._engine: Engine | None = None
        self._clock = clock
        self._lease = lease_seconds
        self._always = not parsed.drivername.startswith("postgresql")
        if not self._always:
            pg = parsed.set(drivername="postgresql+psycopg")
            options = {"connect_timeout": 2, **_KEEPALIVE}
            self._engine = create_engine(pg, poolclass=NullPool, connect_args=options)
        self._conn: Connection | None = None
        self._held = False  # this process's connection holds the lock
        self._leads_from = math.inf  # a lease after the lock was taken
        self._good_until = -math.inf  # a lease after the start of the last check that worked
        self._said = False

    @property
    def is_leader(self) -> bool:
        if self._always:
            return True
        now = self._clock()
        return self._held and self._leads_from <= now < self._good_until

    def check(self) -> bool:
        """Take the lock if it is free; keep it while the connection lives. Never raises."""
        if self._engine is None:
            return True
        sent = self._clock()
        try:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._held:
                self._conn.execute(text("SELECT 1"))
            elif self._conn.execute(_TRY_LOCK).scalar():
                self._held = True
                self._leads_from = self._clock() + self._lease
            self._good_until = max(self._good_until, sent + self._lease)
        except Exception as exc:
            if self._held:
                log.warning("lost the database connection: no longer running the jobs (%r)", exc)
            self._let_go()
        leading = self.is_leader
        if leading and not self._said:
            log.info("this process now runs the jobs (sweeper, billing, licence watch)")
        self._said = leading
        return leading

    def _let_go(self) -> None:
        self._held = False
        self._leads_from = math.inf
        self._good_until = -math.inf
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: S110 - the connection is already gone
                pass
            self._conn = None

    def close(self) -> None:
        """Give the lead up at once (a graceful stop): another process takes the lock at its
        next check and leads a lease later."""
        if self._held and self._conn is not None:
            # Explicitly: the server lets go of a closed connection's locks a moment later.
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
        self._let_go()
        if self._engine is not None:
            self._engine.dispose()
