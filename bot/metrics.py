"""Prometheus metrics of the chat server: what the rest of ``bot`` counts, and the scrape.

The rest of the server calls the small functions here (one line at each point it counts); they
do nothing while metrics are off (``KEFU_METRICS=false``). The figures live in
``prometheus_client``'s default registry; with several worker processes set
``PROMETHEUS_MULTIPROC_DIR`` (docs/deploy.md): the client then keeps them in files there and a
scrape of any worker adds up every worker's.

The latency of an answer is taken from the moment its message frame arrived: ``message_received``
stamps the frame loop's context, and the answer task, created from that loop, inherits the stamp
(``contextvars``); an answer resumed by a hello carries none and is not timed.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import os
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlmodel import Session

from core.db.engine import Database

T = TypeVar("T")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Message -> reply.end: the knowledge base answers in milliseconds, a model in seconds.
_ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A group commit: an fsync of SQLite or a round trip to PostgreSQL, queued behind a batch.
_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

OPEN_SOCKETS = Gauge("kefu_open_sockets", "Chat sockets open now.", multiprocess_mode="livesum")
MESSAGES = Counter("kefu_messages_received", "Visitor message frames received.")
ANSWERS = Counter("kefu_answers_sent", "Answers finished with reply.end.")
ANSWER_SECONDS = Histogram(
    "kefu_answer_seconds",
    "From a visitor message frame's arrival to its reply.end.",
    buckets=_ANSWER_BUCKETS,
)
DB_WRITES = Counter("kefu_db_writes", "Database writes committed or failed.", ["outcome"])
DB_WRITE_SECONDS = Histogram(
    "kefu_db_write_seconds",
    "A database write, from its submission to its commit.",
    buckets=_WRITE_BUCKETS,
)
MODEL_CALLS = Counter(
    "kefu_model_calls", "Calls to model providers, by how they ended.", ["provider", "outcome"]
)
MODEL_ERRORS = Counter(
    "kefu_model_errors",
    "Model calls that failed (timeouts, HTTP errors, bad streams).",
    ["provider"],
)
CONTENT_BLOCKS = Counter("kefu_content_blocks", "Texts the content filter stopped.", ["direction"])

# Outcomes that are not a failure of the provider: an answer, or a stop the server asked for.
_NOT_ERRORS = frozenset({"ok", "cancelled"})

_on = True
_received: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "kefu_message_received", default=None
)


def configure(enabled: bool) -> None:
    """Turn counting on or off for this process (``KEFU_METRICS``)."""
    global _on
    _on = enabled


def socket_opened() -> None:
    if _on:
        OPEN_SOCKETS.inc()


def socket_closed() -> None:
    if _on:
        OPEN_SOCKETS.dec()


def message_received() -> None:
    """A visitor message frame arrived; answers started from here are timed from now."""
    if _on:
        MESSAGES.inc()
        _received.set(time.perf_counter())


def answer_sent() -> None:
    """reply.end left for the widget."""
    if _on:
        ANSWERS.inc()
        received = _received.get()
        if received is not None:
            ANSWER_SECONDS.observe(time.perf_counter() - received)


def model_call(provider: str, outcome: str) -> None:
    if _on:
        MODEL_CALLS.labels(provider, outcome).inc()
        if outcome not in _NOT_ERRORS:
            MODEL_ERRORS.labels(provider).inc()


def content_block(direction: str) -> None:
    if _on:
        CONTENT_BLOCKS.labels(direction).inc()


def meter_writes(db: Database) -> None:
    """Count and time every ``db.write`` of this process (idempotent).

    The write path is core's and knows nothing of Prometheus; the server wraps it here, at the
    one place every chat and API write goes through."""
    if not _on or getattr(db, "_kefu_metered", False):
        return
    write = db.write

    async def metered(fn: Callable[[Session], T]) -> T:
        if not _on:
            return await write(fn)
        start = time.perf_counter()
        outcome = "error"
        try:
            result = await write(fn)
            outcome = "ok"
            return result
        finally:
            DB_WRITES.labels(outcome).inc()
            DB_WRITE_SECONDS.observe(time.perf_counter() - start)

    db.write = metered  # type: ignore[method-assign]
    db._kefu_metered = True  # type: ignore[attr-defined]


def multiprocess_dir() -> str | None:
    """Where worker processes keep their figures, when several share one scrape."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The scrape's body and content type: this process's figures, or every worker's."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """A worker stops: its open sockets no longer count (multiprocess mode only)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def scrape_allowed(token: str | None, authorization: str | None, client_host: str | None) -> bool:
    """With a token, only ``Authorization: Bearer <token>``; without one, only loopback."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    try:
        return client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False
