"""A real uvicorn server on loopback around a set of chat services, and test settings for it."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from bot.chat.services import ChatServices
from core.settings import Settings, load_settings
from kefu.app import create_app, transport_options
from testkit.answerers import EchoAnswerer


def settings_for(url: str, **overrides: Any) -> Settings:
    """Settings for a server on the database at ``url``: a fresh secret, quick background jobs,
    lexical retrieval (answers that do not change when the encoder finishes loading)."""
    overrides.setdefault("retrieval_encoder", "off")
    # In-process servers share the test process: freezing its heap would keep every earlier
    # test's garbage cycles for the rest of the run (servers in processes of their own freeze).
    overrides.setdefault("gc_freeze", False)
    return load_settings(
        database_url=url,
        secret_key=secrets.token_urlsafe(40),
        sweep_interval_seconds=0.2,
        licence_watch_interval_seconds=0.2,
        **overrides,
    )


@dataclass
class LiveServer:
    url: str
    ws_url: str
    services: ChatServices
    answerer: EchoAnswerer


def free_socket() -> socket.socket:
    """A socket bound to a free loopback port, for a server to listen on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def run_server(services: ChatServices, **uvicorn_kw: Any) -> Iterator[str]:
    """Serve ``services`` with real uvicorn (the production transport settings) in a thread."""
    app = create_app(services.settings, services=services)
    sock = free_socket()
    port = sock.getsockname()[1]
    options = {**transport_options(services.settings), **uvicorn_kw}
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
