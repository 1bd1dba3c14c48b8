"""An agent's console over a real socket, for tests: a stand-in sign-in and the socket."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from core.chat import handoff
from testkit.servers import LiveServer
from testkit.tenants import Tenant

COOKIE = "kefu_session"


def sign_in_as(live: LiveServer, tenant: Tenant) -> None:
    """The accounts' session check, as the composition root wires it: one good cookie."""
    agent = handoff.Agent("u_agent_1", "小王", tenant.licensee.id)

    def check(cookies: Mapping[str, str], now: datetime) -> handoff.Agent | None:
        return agent if cookies.get(COOKIE) == "good" else None

    live.services.agent_auth = check


async def open_console(
    live: LiveServer, *, origin: str | None = None, cookie: str | None = "good"
) -> ClientConnection:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else None
    return await connect(
        f"{live.ws_url}/v1/agent",
        origin=origin or live.url,  # type: ignore[arg-type]
        additional_headers=headers,
        compression=None,
        open_timeout=5,
    )


async def recv(conn: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await conn.recv(decode=True))
        if frame["type"] == kind:
            return frame
