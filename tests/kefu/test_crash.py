"""kill -9 of a real `kefu serve` mid-conversation: nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.db.tables import Conversation, Message
from core.licensing.licensees import create_licensee
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.polling import until
from testkit.tenants import ORIGIN

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
KEFU = Path(sys.executable).with_name("kefu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("kefu serve did not start")


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["KEFU_DATABASE_URL"] = f"sqlite:///{tmp_path}/kefu.db"
    env["KEFU_SECRET_KEY"] = secrets.token_urlsafe(40)
    env["KEFU_RATE_VISITOR_MESSAGES"] = "1000/s"
    yield env


async def test_kill_9_loses_no_acknowledged_unit_and_doubles_none(
    server_env: dict[str, str],
) -> None:
    db = Database(server_env["KEFU_DATABASE_URL"])
    db.migrate()
    with db.session() as session:
        _lic, keys = create_licensee(session, name="Crash", origins=[ORIGIN], now=utcnow())
        session.commit()
    port = free_port()
    proc = start_server(server_env, port)
    acked: dict[str, dict[str, str]] = {}  # visitor token -> client id -> conversation id
    stop = asyncio.Event()

    async def visitor(n: int) -> None:
        chat = await Chat.open(f"ws://127.0.0.1:{port}", keys.site_key)
        token = (await chat.hello())["visitor"]
        mine = acked.setdefault(token, {})
        i = 0
        try:
            while not stop.is_set():
                cid = f"v{n}-m{i}"
                await chat.send({"type": "message", "id": cid, "text": f"question {i}"})
                while True:
                    frame = await chat.recv(wait=5)
                    if frame["type"] == "ack" and frame["id"] == cid:
                        mine[cid] = frame["conversation"]["id"]
                    if frame["type"] == "reply.end":
                        break
                i += 1
        except Exception:  # the server died under us: that is the point
            pass
        finally:
            await chat.close()

    tasks = [asyncio.create_task(visitor(n)) for n in range(20)]
    await until(lambda: sum(len(m) for m in acked.values()) >= 20, "the load never got going")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    await asyncio.gather(*tasks)
    total_acked = sum(len(m) for m in acked.values())
    assert total_acked >= 20, "the load never got going"

    proc = start_server(server_env, port)
    try:
        msg = Message.__table__.c  # type: ignore[attr-defined]
        conv_visitor = Conversation.__table__.c.visitor_id  # type: ignore[attr-defined]
        messages = db.read(
            lambda c: c.execute(
                select(msg.client_id, msg.conversation_id).where(msg.role == "visitor")
            ).all()
        )
        stored = Counter(row[0] for row in messages)
        by_client = {row[0]: row[1] for row in messages}
        for mine in acked.values():
            for cid, conv in mine.items():
                assert stored[cid] == 1, cid  # every acknowledged message is there, once
                assert by_client[cid] == conv
        conversations = db.read(lambda c: c.execute(select(conv_visitor)).all())
        per_visitor = Counter(row[0] for row in conversations)
        assert all(n == 1 for n in per_visitor.values()), per_visitor  # no unit twice

        # Questions acknowledged but cut off before their answer are answered when their
        # visitor comes back, so every conversation ends with the robot's answer.
        unanswered = 0
        for token in acked:
            chat = await Chat.open(f"ws://127.0.0.1:{port}", keys.site_key)
            history = (await chat.hello(token))["history"]
            if history and history[-1]["role"] == "visitor":
                unanswered += 1
                frames = await chat.answer()
                assert frames[0]["to"] == history[-1]["client_id"]
            await chat.close()
        convs = db.read(lambda c: c.execute(select(msg.conversation_id, msg.seq, msg.role)).all())
        last: dict[str, tuple[int, str]] = {}
        for conv_id, seq, role in convs:
            if conv_id not in last or seq > last[conv_id][0]:
                last[conv_id] = (seq, role)
        assert all(role == "robot" for _seq, role in last.values()), (unanswered, last)

        # After the restart a resend of an acknowledged id is recognised, not answered again.
        token, mine = next((t, m) for t, m in acked.items() if m)
        cid, conv = next(iter(mine.items()))
        chat = await Chat.open(f"ws://127.0.0.1:{port}", keys.site_key)
        welcome = await chat.hello(token)
        assert welcome["conversation"]["id"] == conv
        await chat.send({"type": "message", "id": cid, "text": "again"})
        ack = await chat.expect("ack")
        assert ack["conversation"]["id"] == conv
        with pytest.raises(TimeoutError):
            await chat.recv(wait=0.5)
        await chat.close()
    finally:
        proc.terminate()
        proc.wait(10)
        db.close()
