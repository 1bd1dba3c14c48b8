"""Retries with one ``Idempotency-Key``, and a client that leaves mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from bot.chat.services import build_services
from core.db.engine import Database
from core.db.tables import Conversation, Message, table_of
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.chat_http import ask, bearer, events, stored
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import Tenant

M, C = table_of(Message).c, table_of(Conversation).c


@pytest.fixture
def second_server(db: Database, db_url: str) -> Iterator[LiveServer]:
    """Another server process's worth of services on the same database (its own writer)."""
    other = Database(db_url, sqlite_synchronous="NORMAL")
    answerer = EchoAnswerer()
    services = build_services(
        settings_for(db_url), other, answerer=answerer, index_builder=KeywordIndex.build
    )
    try:
        for address in run_server(services):
            yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)
    finally:
        other.close()


def test_fifty_concurrent_retries_store_one_message_one_answer_one_unit(
    live: LiveServer, second_server: LiveServer, shop_a: Tenant, db: Database
) -> None:
    # The second server's secret differs: the same user must still be one end user there, so
    # both serve with the first one's.
    second_server.services.settings = live.services.settings
    live.answerer.delay = second_server.answerer.delay = 0.05
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "order-42-question-1"})
    start = threading.Barrier(50)

    def send(n: int) -> httpx.Response:
        base = (live if n % 2 else second_server).url  # half of them to each server
        body = ask("is it shipped", user="erin", stream=n % 4 == 0)
        with httpx.Client(base_url=base, timeout=30) as client:
            start.wait()
            response = client.post("/v1/chat/completions", json=body, headers=headers)
            response.read()
            return response

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(send, range(50)))

    answers: set[tuple[str, str, str]] = set()
    for response in responses:
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            chunks = list(events(response.text.splitlines()))
            assert chunks[-1] == "[DONE]"
            text = "".join(
                c["choices"][0]["delta"].get("content") or ""
                for c in chunks[:-1]
                if isinstance(c, dict)
            )
            end = chunks[-2]
            assert isinstance(end, dict)
            kefu = end["kefu"]
        else:
            body = response.json()
            text, kefu = body["choices"][0]["message"]["content"], body["kefu"]
        answers.add((text, kefu["message"], kefu["conversation"]["id"]))
    assert len(answers) == 1
    assert next(iter(answers))[0] == "echo: is it shipped"
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert live.answerer.calls + second_server.answerer.calls == 1

    # A retry long after: the same answer again, still nothing new.
    with httpx.Client(base_url=live.url, timeout=30) as client:
        late = client.post(
            "/v1/chat/completions", json=ask("is it shipped", "erin"), headers=headers
        )
    assert late.json()["kefu"]["message"] == next(iter(answers))[1]
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)


def test_another_key_is_another_message(live: LiveServer, shop_a: Tenant, db: Database) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for key in ("k1", "k2", "k1"):
            headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": key})
            assert client.post("/v1/chat/completions", json=ask("hi"), headers=headers).is_success
    assert stored(db, shop_a.licensee.id) == (1, 2, 2)


def test_the_same_key_of_another_licensee_is_its_own(
    live: LiveServer, shop_a: Tenant, shop_b: Tenant, db: Database
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for shop in (shop_a, shop_b):
            headers = bearer(shop.keys.secret_key, **{"Idempotency-Key": "same"})
            response = client.post("/v1/chat/completions", json=ask("hi"), headers=headers)
            assert response.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert stored(db, shop_b.licensee.id) == (1, 1, 1)


def test_a_client_gone_mid_stream_leaves_the_answer_stored_whole_and_one_unit(
    live: LiveServer, shop_a: Tenant, db: Database
) -> None:
    live.answerer.delay = 0.3  # three pieces, well apart: the client leaves after the first
    with httpx.Client(base_url=live.url, timeout=30) as client:
        body = ask("a long question about returns", user="fay", stream=True)
        with client.stream(
            "POST", "/v1/chat/completions", json=body, headers=bearer(shop_a.keys.secret_key)
        ) as response:
            for line in response.iter_lines():
                if '"content":"' in line and '"content":""' not in line:
                    break  # the first piece of the answer: hang up
    deadline = time.monotonic() + 10
    while stored(db, shop_a.licensee.id)[2] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    text = db.read(
        lambda conn: conn.execute(
            select(M.text).where(M.licensee_id == shop_a.licensee.id, M.role == "robot")
        ).scalar_one()
    )
    assert text == "echo: a long question about returns"
    assert live.answerer.calls == 1
