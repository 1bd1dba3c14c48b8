"""``kefu serve`` and ``kefu demo``: migrate, check the port, then serve everything."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from core.errors import ConfigError
from core.settings import Settings
from kefu.cli.command import Typer, examples
from kefu.cli.database import database

app = Typer()

HostOpt = Annotated[
    str | None, typer.Option(metavar="HOST", help="Interface to listen on (setting KEFU_HOST).")
]
PortOpt = Annotated[
    int | None, typer.Option(metavar="PORT", help="Port to listen on (setting KEFU_PORT).")
]


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before anything says where to connect."""
    for family, kind, proto, _name, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by an earlier run is free to reuse.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
                raise ConfigError(
                    f"port {port} on {host} is in use by another program: choose another with"
                    f" --port {port + 1}, the KEFU_PORT setting, or make demo PORT={port + 1}"
                ) from None
        return


WorkersOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=64,
        metavar="N",
        help="Worker processes behind the one port; more than 1 needs PostgreSQL and Redis"
        " (KEFU_DATABASE_URL, KEFU_REDIS_URL). Usually one per core.",
    ),
]


def check_workers(settings: Settings, workers: int) -> None:
    """Several workers share the database and tell each other through Redis: refuse what
    cannot, saying what to use instead."""
    if workers <= 1:
        return
    if settings.is_sqlite:
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL: SQLite serves one process. Set"
            " KEFU_DATABASE_URL=postgresql://USER@HOST/DB and KEFU_REDIS_URL=redis://HOST:6379/0,"
            " or serve with one worker"
        )
    if not settings.redis_url:
        raise ConfigError(
            f"--workers {workers} needs Redis, through which workers share claims, limits and"
            " signals: set KEFU_REDIS_URL=redis://HOST:6379/0, or serve with one worker"
        )


def run_workers(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """N worker processes on one port (uvicorn's supervisor restarts one that dies)."""
    import uvicorn

    from kefu.app import transport_options

    options = {**transport_options(settings), "http": "kefu.asgi:HTTPProtocol"}
    uvicorn.run(
        "kefu.asgi:create",
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        **options,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=5,
        # The supervisor kills a worker that does not answer its ping within this: at the
        # default 5 s it killed workers still starting on a busy 2-core machine.
        timeout_worker_healthcheck=settings.worker_healthcheck_seconds,
        log_level="info",
    )


def run_server(
    settings: Settings, host: str | None, port: int | None, demo_key: str | None = None
) -> None:
    # Imported here, not at the top: the server stack (uvicorn, FastAPI, the chat server) adds
    # 1.1-2.0 s to the start of every other command, measured on a 2-core machine.
    import uvicorn

    from kefu.app import create_app, transport_options
    from kefu.logging_config import logging_config

    application = create_app(settings)
    application.state.demo_site_key = demo_key
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        **transport_options(settings),
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=5,
        log_config=logging_config(settings),
        log_level=settings.log_level.lower(),
    )


@app.command(
    epilog=examples("kefu serve", "kefu serve --host 0.0.0.0 --port 8080", "kefu serve --workers 4")
)
def serve(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = 1) -> None:
    """Migrate the database if needed, then serve everything."""
    with database() as (settings, _db):
        pass
    check_workers(settings, workers)
    check_port(host or settings.host, port or settings.port)
    if workers > 1:
        run_workers(settings, host, port, workers)
    else:
        run_server(settings, host, port)


@app.command(epilog=examples("kefu demo", "kefu demo --port 8001"))
def demo(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve a demo shop with the widget at /demo.

    A demo licensee with a bilingual knowledge base, created once and reused."""
    # Imported here for the same reason: the demo's knowledge base goes through the spreadsheet
    # reader, about 0.3 s of start-up for every other command (see kefu.cli.kb).
    from kefu.demo import ensure_demo

    with database() as (settings, db):
        bind_host, bind_port = host or settings.host, port or settings.port
        check_port(bind_host, bind_port)
        site_key = ensure_demo(db, settings, bind_host, bind_port)
    shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
    typer.echo(f"Demo shop: http://{shown}:{bind_port}/demo", err=True)
    run_server(settings, bind_host, bind_port, demo_key=site_key)
