"""The composition root: ``create_app(settings)`` wires the chat server, API and widget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from admin.app import create_admin
from bot import agent_ws, collector, loop_lag, metrics, ops, ws
from bot.api import completions, conversations, statements
from bot.api import usage as api
from bot.chat.hit_test import hit_tester
from bot.chat.services import ChatServices, build_services
from bot.chat.signals import Signals
from bot.handshake import timed_http_protocol
from bot.jobs import agents
from bot.jobs.billing import run_billing
from bot.jobs.closer import Closer
from bot.jobs.licence_changes import LicenceChanges
from bot.jobs.licence_watcher import LicenceWatcher
from bot.jobs.reports import refresh_reports
from bot.jobs.runner import run_periodic
from bot.jobs.sweeper import sweep_once
from core.bus import Data, Topic
from core.chat.frames import MAX_FRAME_BYTES
from core.db.engine import Database, open_database
from core.db.leader import Leadership
from core.settings import Settings
from core.types import utcnow
from kefu import error_handler
from kefu.logging_config import RequestIds
from widget import routes as widget_routes

log = logging.getLogger("kefu")


def _warm_imports(settings: Settings) -> None:
    # The retrieval stack (NumPy, SciPy, scikit-learn) takes a second to import, LangChain's
    # OpenAI client another: do it after the server already accepts connections, not before,
    # and not on the first question.
    import bot.answerers.retrieval  # noqa: F401

    if settings.model_base_url:
        from bot.llm.backends import warm_up

        warm_up()
    collector.freeze_long_lived("start-up")  # modules, classes, clients: they live as long


def transport_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's WebSocket settings for protocol v1 (the CLI and the test servers share them)."""
    return {
        "ws": "websockets-sansio",
        "ws_max_size": MAX_FRAME_BYTES,  # larger frames are closed with 1009 by the transport
        "ws_per_message_deflate": False,  # compression is not offered (CPU, and BREACH-style leaks)
        "ws_ping_interval": settings.ws_ping_interval_seconds,
        "ws_ping_timeout": settings.ws_ping_timeout_seconds,
        "http": timed_http_protocol(settings.handshake_timeout_seconds),
    }


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    services: ChatServices | None = None,
) -> FastAPI:
    """The whole product as one ASGI app; tests may hand in a database or prepared services."""
    database = services.db if services else db or open_database(settings)
    services = services or build_services(settings, database)
    metrics.configure(settings.metrics)
    collector.configure(settings.gc_freeze)
    metrics.meter_writes(services.db)
    watcher = LicenceWatcher(services)
    closer = Closer(services)
    leader = Leadership(database.url, lease_seconds=settings.leader_lease_seconds)
    services.bus.subscribe(Signals(services.hub, watcher))
    services.bus.subscribe(services.desk)

    changes = LicenceChanges(services, watcher)

    async def console_changed(topic: Topic, data: Data) -> None:
        # What an operator changes in the console: this process acts on its own sockets (the
        # bus does not bring a process its own signals), the bus tells the others.
        await services.bus.publish(topic, data)
        if topic == Topic.LICENCE and data.get("licensee_id"):
            services.desk.forget_rules(str(data["licensee_id"]))  # its hand-off rules
        await watcher.check_soon()

    async def watch_round() -> None:
        if leader.is_leader:
            await changes.round()
            return
        changes.forget()
        if not (settings.redis_url and services.bus.healthy()[0]):
            await watcher.check_soon()  # nobody may tell this process: its own view

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.load_maintenance)
        await services.bus.start()
        await asyncio.to_thread(leader.check)
        stop = asyncio.Event()
        # Jobs run in one process (the leader). The licence watch too: the leader reads every
        # licensee and tells the others over the bus, which act for their own sockets; a process
        # the bus cannot reach (Redis down) watches for its own sockets meanwhile.
        sweeper = run_periodic(
            settings.sweep_interval_seconds,
            lambda: sweep_once(services),
            "sweeper",
            stop,
            only_if=lambda: leader.is_leader,
        )
        lead = run_periodic(
            settings.leader_check_seconds, lambda: asyncio.to_thread(leader.check), "leader", stop
        )
        watch = run_periodic(settings.licence_watch_interval_seconds, watch_round, "watcher", stop)
        closing = run_periodic(
            settings.closure_interval_seconds,
            closer.run_once,
            "closer",
            stop,
            only_if=lambda: leader.is_leader,
        )

        async def bill() -> None:
            await asyncio.to_thread(
                run_billing, database, utcnow(), settings.billing_issue_grace_days
            )

        billing = run_periodic(
            settings.billing_check_interval_seconds,
            bill,
            "billing",
            stop,
            only_if=lambda: leader.is_leader,
        )
        reports = run_periodic(
            settings.reports_refresh_interval_seconds,
            lambda: asyncio.to_thread(refresh_reports, database),
            "reports",
            stop,
            only_if=lambda: leader.is_leader,
        )
        presence = run_periodic(
            settings.agent_heartbeat_seconds, lambda: agents.heartbeat(services), "agents", stop
        )
        lost = run_periodic(
            settings.agent_heartbeat_seconds,
            lambda: agents.return_lost(services),
            "lost agents",
            stop,
            only_if=lambda: leader.is_leader,
        )
        tasks = [
            asyncio.create_task(reports),
            asyncio.create_task(presence),
            asyncio.create_task(lost),
            asyncio.create_task(sweeper),
            asyncio.create_task(lead),
            asyncio.create_task(watch),
            asyncio.create_task(billing),
            asyncio.create_task(closing),
            asyncio.create_task(asyncio.to_thread(_warm_imports, settings)),
        ]
        if settings.metrics:  # the loop's stalls and the collector's pauses, at /metrics
            loop_lag.meter_gc()
            tasks.append(asyncio.create_task(loop_lag.probe(stop)))
        renew = asyncio.create_task(services.claims.renew_forever())
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renew
            await asyncio.to_thread(leader.close)
            await services.bus.aclose()
            await services.claims.aclose()
            await services.limiter.aclose()
            services.workpool.close()
            if "bot.llm.backends" in sys.modules:  # model clients exist only once used
                from bot.llm.backends import aclose_clients

                await aclose_clients()
            database.close()
            metrics.process_exited(os.getpid())

    app = FastAPI(title="Kefu", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.chat = services
    app.state.leader = leader
    app.state.demo_site_key = None
    error_handler.install(app)
    app.add_middleware(RequestIds)
    app.include_router(ops.router)
    app.include_router(ws.router)
    app.include_router(agent_ws.router)
    app.include_router(api.router)
    app.include_router(completions.router)
    app.include_router(conversations.router)
    app.include_router(statements.router)
    completions.document(app)
    app.include_router(widget_routes.router)
    app.include_router(
        create_admin(
            settings,
            database,
            limiter=services.limiter,
            bus=services.bus,
            changed=console_changed,
            # The console's hit test asks the chat server's own index and answerer.
            hit_test=hit_tester(services),
        )
    )

    return app
