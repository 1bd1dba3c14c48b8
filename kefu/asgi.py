"""What each worker of ``kefu serve --workers N`` imports: the app and its HTTP protocol.

uvicorn starts the workers as fresh processes that import these by name; each reads the same
settings (the environment, ``.env`` and the secret the parent already created) and builds its
own app: its own connections, bus subscription and claims, nothing shared in memory.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from core.settings import load_settings


def create() -> FastAPI:
    """The app of one worker (uvicorn's ``factory``)."""
    from kefu.app import create_app

    return create_app(load_settings())


def __getattr__(name: str) -> Any:
    # uvicorn looks the protocol up by name in the worker; it is built there, from the settings
    # the worker reads, because a class made at run time cannot be handed to a new process.
    if name == "HTTPProtocol":
        from bot.handshake import timed_http_protocol

        return timed_http_protocol(load_settings().handshake_timeout_seconds)
    raise AttributeError(name)
