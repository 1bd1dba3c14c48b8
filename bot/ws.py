"""The /v1/chat WebSocket endpoint: handshake checks and frame I/O only (rules: chat.session)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from fastapi import APIRouter, WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from bot import log_context, metrics
from bot.chat.penalties import REFUSAL_DELAY
from bot.chat.services import ChatServices
from bot.chat.session import ChatSession
from bot.deps import services_of
from core.chat.frames import CloseCode, ServerFrame, dump_frame
from core.errors import KefuError
from core.licensing.licensees import KeyContext, authenticate_chat

log = logging.getLogger("kefu.ws")
router = APIRouter()


def _bearer(websocket: WebSocket) -> str | None:
    value = websocket.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _deny(websocket: WebSocket, status: int, text: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(text, status_code=status))
    else:  # a server without the denial extension can only refuse with 403
        await websocket.close(code=1008)


class SocketSink:
    """A session's output, written to its WebSocket while that is still open."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send(self, frame: ServerFrame) -> None:
        if self._websocket.application_state == WebSocketState.CONNECTED:
            # The end user may leave while a frame is on its way (the state still says
            # connected while the close is read): only the sending stops, never the answer,
            # which is stored for the next hello.
            with contextlib.suppress(WebSocketDisconnect):
                await self._websocket.send_text(dump_frame(frame))

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state == WebSocketState.CONNECTED:
            await self._websocket.close(code=code, reason=reason)


class AddressCount:
    """Open sockets per (licensee, client address) in this process."""

    def __init__(self) -> None:
        self._open: Counter[tuple[str, str]] = Counter()

    def take(self, key: tuple[str, str], limit: int) -> bool:
        if self._open[key] >= limit:
            return False
        self._open[key] += 1
        return True

    def give_back(self, key: tuple[str, str]) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]


def _address_count(websocket: WebSocket) -> AddressCount:
    state = websocket.app.state
    if not hasattr(state, "sockets_by_address"):
        state.sockets_by_address = AddressCount()
    count: AddressCount = state.sockets_by_address
    return count


@router.websocket("/v1/chat")
async def chat(websocket: WebSocket) -> None:
    services = services_of(websocket.app)
    origin = websocket.headers.get("origin")
    key = websocket.query_params.get("key")
    # The peer, or the client a trusted proxy names (uvicorn's proxy headers; README).
    address = websocket.client.host if websocket.client else "unknown"
    # An address refused too often is refused again before any work (bot/chat/penalties.py).
    if (left := services.penalties.refused_for(address)) is not None:
        await asyncio.sleep(min(left, REFUSAL_DELAY))
        await _deny(websocket, 429, "too many refused frames from this address, retry later")
        return

    def check() -> KeyContext:
        with services.db.read_session() as session:
            return authenticate_chat(session, key, origin, _bearer(websocket))

    try:
        ctx = await asyncio.to_thread(check)
    except KefuError as exc:  # unknown key 401, origin not allowed 403 (core.errors)
        await _deny(websocket, exc.status, str(exc))
        return
    except Exception as exc:  # the database is unreachable: the widget tries again later
        log.warning("a chat handshake could not read the database: %r", exc)
        await _deny(websocket, 503, "temporarily unavailable, try again")
        return

    # A licensee's own server (secret key) speaks for many end users from one address.
    counted = (ctx.licensee.id, address) if ctx.secret_key_id is None else None
    counts = _address_count(websocket)
    if counted is not None and not counts.take(counted, services.settings.max_sockets_per_address):
        await _deny(websocket, 429, "too many open chats from this address")
        return
    try:
        await _serve(websocket, services, ctx, None if counted is None else address)
    finally:
        if counted is not None:
            counts.give_back(counted)


async def _serve(
    websocket: WebSocket, services: ChatServices, ctx: KeyContext, address: str | None
) -> None:
    await websocket.accept()
    session = ChatSession(services, ctx, SocketSink(websocket), address=address)
    log_context.follow_conversation(lambda: getattr(session.conversation, "id", None))
    if not await session.start():
        return
    hello_timeout = services.settings.hello_timeout_seconds
    metrics.socket_opened()
    try:
        while not session.closed:
            if session.visitor_id is None:  # a socket that never says hello is not kept
                try:
                    message = await asyncio.wait_for(websocket.receive(), hello_timeout)
                except TimeoutError:
                    await session.sink.close(CloseCode.POLICY_VIOLATION, "no hello in time")
                    break
            else:
                message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is not None:
                await session.receive_text(text)
            else:
                await session.receive_bytes()
    except Exception:
        # A socket that dies mid-send is normal for a chat on phones; anything else is logged.
        if websocket.application_state == WebSocketState.CONNECTED:
            log.exception("chat socket failed")
    finally:
        metrics.socket_closed()
        await session.stop()
