"""Readiness checks: can this process reach its database and, when configured, Redis?

Each check gets a short timeout and reports what went wrong in a sentence, never a traceback or
a URL (a URL may carry a password).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text

from core.db.engine import Database


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    ms: float
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok, "ms": round(self.ms, 1)}
        if self.error is not None:
            out["error"] = self.error
        return out


def _reason(exc: BaseException, within: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {within:g} s"
    # The driver's first line says what failed (refused, unknown host, auth) without the URL.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _select_one(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class DatabaseProbe:
    """``SELECT 1`` in a daemon thread of its own, one at a time.

    A database that stops answering (a dropped network path, not a refused connection) can keep
    a connect waiting for minutes. The probe never waits on the chat's worker threads, so a
    stuck probe cannot take them, and while one is stuck the next checks wait on it instead of
    starting another."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._running: Future[None] | None = None
        self._lock = threading.Lock()

    def _probe(self) -> Future[None]:
        with self._lock:
            if self._running is None or self._running.done():
                done: Future[None] = Future()
                done.set_running_or_notify_cancel()  # from now on it cannot be cancelled

                def run() -> None:
                    try:
                        _select_one(self._db)
                    except BaseException as exc:
                        done.set_exception(exc)
                    else:
                        done.set_result(None)

                threading.Thread(target=run, name="kefu-readyz", daemon=True).start()
                self._running = done
            return self._running

    async def check(self, within: float) -> Check:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._probe())), within)
        except Exception as exc:
            ms = (time.perf_counter() - start) * 1000
            return Check("database", False, ms, _reason(exc, within))
        return Check("database", True, (time.perf_counter() - start) * 1000)


async def check_redis(url: str, within: float) -> Check:
    """``PING`` on a connection of its own, so a broken pool elsewhere cannot hide or fake it."""
    start = time.perf_counter()
    client = Redis.from_url(
        url,
        socket_connect_timeout=within,
        socket_timeout=within,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await asyncio.wait_for(client.ping(), within)
    except Exception as exc:
        return Check("redis", False, (time.perf_counter() - start) * 1000, _reason(exc, within))
    finally:
        await client.aclose()
    return Check("redis", True, (time.perf_counter() - start) * 1000)


async def readiness(database: DatabaseProbe, redis_url: str | None, within: float) -> list[Check]:
    """Every check, run at once."""
    checks = [database.check(within)]
    if redis_url:
        checks.append(check_redis(redis_url, within))
    return list(await asyncio.gather(*checks))
