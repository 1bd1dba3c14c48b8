"""The /v1/agent WebSocket endpoint: the agent console's handshake checks and frame I/O only
(rules: chat.agent_session).

Refused with HTTP 403 before the upgrade: a request whose ``Origin`` is not this server's own
(the console is served from here; a page elsewhere must not ride an agent's cookie), and one
without a live session of an ``agent`` user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from bot.chat.agent_session import AgentSession
from bot.deps import services_of
from bot.ws import _deny
from core.accounts import SESSION_COOKIE, Role, resolve_session
from core.chat import handoff
from core.chat.agent_frames import AgentOut
from core.db.engine import Database

log = logging.getLogger("kefu.ws")
router = APIRouter()


def accounts_agent(db: Database) -> Callable[[Mapping[str, str], datetime], handoff.Agent | None]:
    """The agent a console's session cookie stands for (core.accounts): a live session of a
    user with the ``agent`` role, else None."""

    def agent_of(cookies: Mapping[str, str], now: datetime) -> handoff.Agent | None:
        token = cookies.get(SESSION_COOKIE)
        if not token:
            return None
        principal = db.read(lambda s: resolve_session(s, token, now))
        if principal is None or principal.role != Role.AGENT or principal.licensee_id is None:
            return None
        return handoff.Agent(principal.user_id, principal.label, principal.licensee_id)

    return agent_of


def own_origin(websocket: WebSocket, public_url: str | None) -> bool:
    """Whether the handshake's ``Origin`` is this server: its public URL when one is set,
    else the scheme and host the browser reached it by."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    if public_url:
        parts = urlsplit(public_url)
        return origin.rstrip("/") == f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    host = websocket.headers.get("host", "")
    return bool(host) and origin.rstrip("/") == f"{scheme}://{host}"


class ConsoleSink:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send(self, frame: AgentOut) -> None:
        if self._websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect):
                await self._websocket.send_text(frame.model_dump_json())

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state == WebSocketState.CONNECTED:
            await self._websocket.close(code=code, reason=reason)


@router.websocket("/v1/agent")
async def agent_socket(websocket: WebSocket) -> None:
    services = services_of(websocket.app)
    if not own_origin(websocket, services.settings.public_url):
        await _deny(websocket, 403, "the agent console connects from this server's own pages")
        return
    authenticate = services.agent_auth or accounts_agent(services.db)
    agent: handoff.Agent | None = None
    if authenticate is not None:
        try:
            agent = await asyncio.to_thread(authenticate, websocket.cookies, services.clock())
        except Exception as exc:
            log.warning("an agent handshake could not read the database: %r", exc)
            await _deny(websocket, 503, "temporarily unavailable, try again")
            return
    if agent is None:
        await _deny(websocket, 403, "sign in as an agent first")
        return
    await websocket.accept()
    session = AgentSession(services, agent, ConsoleSink(websocket))
    try:
        await session.start()
        while not session.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            await session.feed(text if text is not None else "")  # binary: bad_frame
    except Exception:
        if websocket.application_state == WebSocketState.CONNECTED:
            log.exception("agent socket failed")
    finally:
        await session.stop()
