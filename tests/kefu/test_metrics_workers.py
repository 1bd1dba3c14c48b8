"""/metrics of several `kefu serve` processes sharing PROMETHEUS_MULTIPROC_DIR: one scrape of
any of them adds up all of them, and a stopped one's open sockets no longer count."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.db.engine import Database
from core.licensing.licensees import create_licensee
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.processes import free_port, start_serve
from testkit.tenants import ORIGIN

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def figures(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


async def test_a_scrape_of_one_worker_adds_up_every_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kefu.db"
    db = Database(url)
    db.migrate()
    with db.session() as session:
        _lic, keys = create_licensee(session, name="Workers", origins=[ORIGIN], now=utcnow())
        session.commit()
    db.close()
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATABASE_URL=url,
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_RETRIEVAL_ENCODER="off",
        PROMETHEUS_MULTIPROC_DIR=str(shared),
    )
    ports = [free_port(), free_port()]
    with (tmp_path / "a.log").open("wb") as out_a, (tmp_path / "b.log").open("wb") as out_b:
        procs = [start_serve(env, ports[0], out_a), start_serve(env, ports[1], out_b)]
        try:
            chats = []
            for n, port in enumerate(ports):
                chat = await Chat.start(f"ws://127.0.0.1:{port}", keys.site_key)
                await chat.ask(f"m{n}", "你好")
                chats.append(chat)
            both = figures(ports[0])
            assert both["kefu_messages_received_total"] == 2
            assert both["kefu_answers_sent_total"] == 2
            assert both["kefu_answer_seconds_count"] == 2
            assert both["kefu_open_sockets"] == 2
            assert figures(ports[1])["kefu_messages_received_total"] == 2

            procs[1].send_signal(signal.SIGTERM)  # worker B stops; its socket goes with it
            procs[1].wait(15)
            after = figures(ports[0])
            assert after["kefu_open_sockets"] == 1
            assert after["kefu_messages_received_total"] == 2  # counts stay: they happened
            await chats[0].close()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(15)
