"""kill -9 of a real `kefu serve` while an agent holds a conversation: after the restart the
agent's console is given the conversation again, the end user's reload keeps it, and nothing
said before the kill is lost."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from core.accounts import Role, create_user, start_session
from core.db.engine import Database
from core.licensing.licensees import create_licensee
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.processes import free_port, start_serve
from testkit.tenants import ORIGIN

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return start_serve(env, port, subprocess.DEVNULL)  # type: ignore[arg-type]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    values = dict(os.environ)
    values["KEFU_DATABASE_URL"] = f"sqlite:///{tmp_path}/kefu.db"
    values["KEFU_SECRET_KEY"] = secrets.token_urlsafe(40)
    yield values


async def console(port: int, token: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{port}/v1/agent",
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"kefu_session={token}"},
        compression=None,
        open_timeout=5,
    )


async def recv(conn: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await conn.recv(decode=True))
        if frame["type"] == kind:
            return frame


async def seen(chat: Chat, kind: str) -> dict[str, Any]:
    """The next frame of ``kind`` the end user's socket reads (others pass by)."""
    while True:
        frame = await chat.recv()
        if frame["type"] == kind:
            return frame


async def test_kill_9_while_an_agent_holds_a_conversation(env: dict[str, str]) -> None:
    db = Database(env["KEFU_DATABASE_URL"])
    db.migrate()
    with db.session() as s:
        licensee, keys = create_licensee(s, name="Crash", origins=[ORIGIN], now=utcnow())
        agent = create_user(
            s,
            email="a@crash.example",
            password="agent-password-1",
            role=Role.AGENT,
            licensee_id=licensee.id,
            name="Ann",
            now=utcnow(),
        )
        token = start_session(s, agent, utcnow())
        s.commit()
    port = free_port()
    proc = start_server(env, port)
    ws = f"ws://127.0.0.1:{port}"
    try:
        desk = await console(port, token)
        chat = await Chat.start(ws, keys.site_key, locale="en")
        assert chat.welcome is not None
        visitor = chat.welcome["visitor"]
        await chat.send({"type": "handoff"})
        await chat.expect("ack")
        assert (await chat.expect("handoff"))["status"] == "queued"
        queue = await recv(desk, "queue")
        while not queue["items"]:  # the first is the empty queue sent on connect
            queue = await recv(desk, "queue")
        conv = queue["items"][0]["conversation"]
        await desk.send(json.dumps({"type": "accept", "conversation": conv}))
        await recv(desk, "assigned")
        said = []
        for n in range(3):
            text = f"agent line {n}"
            await desk.send(
                json.dumps({"type": "message", "conversation": conv, "id": f"a{n}", "text": text})
            )
            assert (await recv(desk, "ack"))["id"] == f"a{n}"
            said.append(text)
            text = f"customer line {n}"
            await chat.send({"type": "message", "id": f"m{n}", "text": text})
            assert (await seen(chat, "ack"))["id"] == f"m{n}"
            said.append(text)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    await desk.close()
    await chat.close()

    proc = start_server(env, port)
    try:
        # The agent's console reconnects (well within the grace period): the conversation is
        # given back with everything said before the kill.
        desk = await console(port, token)
        assigned = await recv(desk, "assigned")
        assert assigned["conversation"] == conv
        texts = [h["text"] for h in assigned["history"]]
        assert texts == ["Talk to a person", *said]
        # The end user's reload keeps the agent's conversation, history and all.
        chat = await Chat.start(ws, keys.site_key, visitor, locale="en")
        assert chat.welcome is not None
        assert chat.welcome["conversation"]["id"] == conv
        assert chat.welcome["handoff"]["status"] == "assigned"
        assert chat.welcome["handoff"]["agent"] == {"name": "Ann"}
        assert [h["text"] for h in chat.welcome["history"]] == texts
        # And they go on talking; the robot never answered any of it.
        await desk.send(
            json.dumps({"type": "message", "conversation": conv, "id": "after", "text": "back"})
        )
        assert (await seen(chat, "agent.message"))["text"] == "back"
        assert not any(h["role"] == "robot" for h in chat.welcome["history"])
        await chat.close()
        await desk.close()
    finally:
        proc.terminate()
        proc.wait(10)
        db.close()
