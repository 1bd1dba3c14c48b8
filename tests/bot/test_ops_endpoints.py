"""/healthz, /readyz and /metrics on a real server: checks that fail say why, numbers that move."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from bot import metrics
from bot.chat.services import ChatServices, build_services
from core.db.engine import Database
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows
from core.types import utcnow
from testkit.answerers import KeywordIndex
from testkit.chat_client import Chat
from testkit.providers import FakeOpenAI, Script
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"
BLOCKED = "网络赌博"  # on the built-in word list


def serve(db: Database, db_url: str, **overrides: Any) -> Iterator[tuple[str, ChatServices]]:
    settings = settings_for(db_url, **overrides)
    services = build_services(settings, db, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield f"http://{address}", services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(url: str) -> int:
    return httpx.get(url).status_code


def scrape(url: str, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    response = httpx.get(f"{url}/metrics", **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ---------------------------------------------------------------- health and readiness


def test_healthz_answers_without_asking_anything(live: LiveServer) -> None:
    # One process leads; on PostgreSQL a lease after it took the lock (core.db.leader).
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(f"{live.url}/healthz")
        assert response.status_code == 200
        body = response.json()
        if body["leader"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {k: body[k] for k in ("ok", "connections", "leader", "shared")} == {
        "ok": True,
        "connections": 0,
        "leader": True,  # one process: it runs the jobs
        "shared": True,  # no Redis: nothing to share
    }


def test_readyz_checks_the_database(live: LiveServer) -> None:
    response = httpx.get(f"{live.url}/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert list(body["checks"]) == ["database"]  # no Redis configured, none asked
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.redis
def test_readyz_checks_redis_when_configured(db: Database, db_url: str) -> None:
    for url, _services in serve(db, db_url, redis_url=REDIS_URL):
        response = httpx.get(f"{url}/readyz")
        assert response.status_code == 200
        checks = response.json()["checks"]
        assert checks["database"]["ok"] and checks["redis"]["ok"]


def test_readyz_is_503_with_a_reason_when_redis_is_unreachable(db: Database, db_url: str) -> None:
    port = free_port()  # nobody listens there
    for url, _services in serve(db, db_url, redis_url=f"redis://127.0.0.1:{port}/0"):
        response = httpx.get(f"{url}/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["ok"] is False
        assert body["checks"]["database"]["ok"] is True
        redis = body["checks"]["redis"]
        assert redis["ok"] is False
        assert "ConnectionError" in redis["error"] and str(port) in redis["error"]
        assert "Traceback" not in response.text


def test_readyz_gives_up_on_a_redis_that_never_answers(db: Database, db_url: str) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for url, _services in serve(
            db, db_url, redis_url=f"redis://127.0.0.1:{port}/0", readiness_timeout_seconds=0.3
        ):
            response = httpx.get(f"{url}/readyz", timeout=10)
            assert response.status_code == 503
            assert response.json()["checks"]["redis"]["error"] == "no answer within 0.3 s"


@pytest.mark.postgres
def test_readyz_is_503_when_the_database_stops_answering(tmp_path: Any) -> None:
    from testkit.databases import migrated_postgres_schema

    with migrated_postgres_schema() as pg_url:
        db = Database(pg_url)
        try:
            for url, services in serve(db, pg_url, readiness_timeout_seconds=1.0):
                assert httpx.get(f"{url}/readyz").status_code == 200
                # The server moved away: the pool now reaches a port where nothing listens.
                working = services.db.engine
                services.db.engine = create_engine(
                    f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
                )
                try:
                    response = httpx.get(f"{url}/readyz", timeout=10)
                finally:
                    services.db.engine.dispose()
                    services.db.engine = working
                assert response.status_code == 503
                check = response.json()["checks"]["database"]
                assert check["ok"] is False and "OperationalError" in check["error"]
                assert "Traceback" not in response.text
                assert httpx.get(f"{url}/readyz").status_code == 200  # and back
        finally:
            db.close()


def probes() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kefu-readyz"]


def test_a_database_that_never_answers_holds_one_probe_thread(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    try:
        with socket.socket() as silent:  # accepts connections, never says a word
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
            for url, services in serve(db, sqlite_url, readiness_timeout_seconds=0.3):
                working = services.db.engine
                services.db.engine = create_engine(
                    f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
                )
                try:
                    for _ in range(3):
                        response = httpx.get(f"{url}/readyz", timeout=10)
                        assert response.status_code == 503
                        check = response.json()["checks"]["database"]
                        assert check == {
                            "ok": False,
                            "ms": check["ms"],
                            "error": "no answer within 0.3 s",
                        }
                    # Three checks, one stuck connect: the later checks waited on the first.
                    assert len(probes()) == 1
                finally:
                    services.db.engine = working
        # The listener is gone: the stuck connect fails and its thread ends.
        for _ in range(200):
            if not probes():
                break
            time.sleep(0.05)
        assert not probes()
    finally:
        db.close()


# ---------------------------------------------------------------- metrics


async def test_a_real_chat_moves_the_numbers(live: LiveServer, make_tenant: MakeTenant) -> None:
    t = make_tenant()
    before = scrape(live.url)
    chat = await Chat.start(live.ws_url, t.keys.site_key)
    during = scrape(live.url)
    assert value(during, "kefu_open_sockets") == value(before, "kefu_open_sockets") + 1
    _ack, frames = await chat.ask("m1", "你好")
    assert frames[-1]["type"] == "reply.end"
    _ack, frames = await chat.ask("m2", f"请问{BLOCKED}")
    assert frames[-1]["type"] == "reply.end"
    await chat.close()
    after = scrape(live.url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("kefu_messages_received_total") == 2
    assert moved("kefu_answers_sent_total") == 2
    assert moved("kefu_answer_seconds_count") == 2
    assert moved("kefu_answer_seconds_sum") > 0
    assert moved("kefu_answer_seconds_bucket", le="+Inf") == 2
    assert moved("kefu_content_blocks_total", direction="question") == 1
    # Two messages, two replies, one conversation started in the first message's write, and
    # the block's record: every one committed and timed.
    assert moved("kefu_db_writes_total", outcome="ok") >= 5
    assert moved("kefu_db_write_seconds_count") == moved("kefu_db_writes_total", outcome="ok")
    for _ in range(100):  # the socket's task ends just after the close
        if value(scrape(live.url), "kefu_open_sockets") == value(before, "kefu_open_sockets"):
            break
        await anyio.sleep(0.02)
    assert value(scrape(live.url), "kefu_open_sockets") == value(before, "kefu_open_sockets")


async def test_model_calls_and_errors_are_counted_by_provider(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    with db.session() as session:
        row = KbRow("How do I get a refund?", "Open the order and choose Refund.", ("refund",))
        import_rows(session, t.licensee.id, [row], utcnow())
        session.commit()
    with FakeOpenAI() as fake:
        fake.default = Script(reply="Choose Refund on the order page.")
        for url, _services in serve(
            db,
            db_url,
            model_base_url=fake.base_url,
            model_name=fake.default_model,
            model_api_key="sk-platform-key",
            model_first_token_timeout_seconds=2.0,
            model_timeout_seconds=5.0,
        ):
            before = scrape(url)
            chat = await Chat.start(url.replace("http", "ws"), t.keys.site_key, locale="en")
            await chat.ask("m1", "How do I get a refund?")
            fake.default = Script(status=500)
            await chat.ask("m2", "How do I get a refund?")
            await chat.close()
            for _ in range(100):  # the ledger (and the count) follow reply.end
                after = scrape(url)
                calls = [k for k in after if k[0] == "kefu_model_calls_total"]
                total = sum(after[k] - before.get(k, 0.0) for k in calls)
                if total >= 2:
                    break
                await anyio.sleep(0.02)
    providers = {dict(k[1])["provider"] for k in calls if after[k] > before.get(k, 0.0)}
    assert len(providers) == 1
    (provider,) = providers
    assert (
        value(after, "kefu_model_calls_total", provider=provider, outcome="ok")
        - value(before, "kefu_model_calls_total", provider=provider, outcome="ok")
        == 1
    )
    assert (
        value(after, "kefu_model_calls_total", provider=provider, outcome="http_error")
        - value(before, "kefu_model_calls_total", provider=provider, outcome="http_error")
        == 1
    )
    assert (
        value(after, "kefu_model_errors_total", provider=provider)
        - value(before, "kefu_model_errors_total", provider=provider)
        == 1
    )


def test_metrics_need_the_token_when_one_is_set(db: Database, db_url: str) -> None:
    for url, _services in serve(db, db_url, metrics_token="scrape-token-0123456789"):
        assert httpx.get(f"{url}/metrics").status_code == 403
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.get(f"{url}/metrics", headers=wrong).status_code == 403
        right = {"Authorization": "Bearer scrape-token-0123456789"}
        assert "kefu_messages_received_total" in str(scrape(url, headers=right))


def test_metrics_without_a_token_answer_loopback_only(live: LiveServer) -> None:
    scrape(live.url)  # this client is on loopback
    # A client the trusted proxy in front names (X-Forwarded-For) is not.
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    response = httpx.get(f"{live.url}/metrics", headers=forwarded)
    assert response.status_code == 403


@pytest.fixture
def metrics_back_on() -> Iterator[None]:
    yield
    metrics.configure(True)  # the switch is per process; other tests' servers count


@pytest.mark.usefixtures("metrics_back_on")
async def test_metrics_off_count_nothing_and_serve_nothing(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    for url, _services in serve(db, db_url, metrics=False):
        assert status(f"{url}/metrics") == 404
        before = REGISTRY.get_sample_value("kefu_messages_received_total")
        chat = await Chat.start(url.replace("http", "ws"), t.keys.site_key)
        await chat.ask("m1", "你好")
        await chat.close()
        assert REGISTRY.get_sample_value("kefu_messages_received_total") == before


@pytest.mark.parametrize(
    ("token", "authorization", "client", "allowed"),
    [
        (None, None, "127.0.0.1", True),
        (None, None, "::1", True),
        (None, None, "10.0.0.5", False),
        (None, None, "unknown", False),
        (None, None, None, False),
        ("tok-123456", "Bearer tok-123456", "10.0.0.5", True),
        ("tok-123456", "bearer tok-123456", "10.0.0.5", True),
        ("tok-123456", "Bearer tok-1234567", "127.0.0.1", False),
        ("tok-123456", None, "127.0.0.1", False),
        ("tok-123456", "Basic tok-123456", "127.0.0.1", False),
    ],
)
def test_who_may_scrape(
    token: str | None, authorization: str | None, client: str | None, allowed: bool
) -> None:
    assert metrics.scrape_allowed(token, authorization, client) is allowed
