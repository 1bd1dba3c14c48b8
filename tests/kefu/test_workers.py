"""Several real ``kefu serve`` processes on one PostgreSQL and one Redis (issue: several workers).

Each test starts its own workers on loopback; a test that stops Redis or PostgreSQL starts a
private one. The licence watch interval is 30 s here, so anything that reaches another worker
within a second came over the bus, not by polling.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from websockets.exceptions import InvalidStatus

from core.db.engine import Database
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.databases import migrated_postgres_schema
from testkit.polling import until
from testkit.providers import FakeOpenAI, Script
from testkit.tenants import Tenant, make_tenant
from testkit.workers import (
    KEFU,
    REDIS_URL,
    Worker,
    Workers,
    private_postgres,
    private_redis,
    worker_env,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SLOW_WATCH = {"licence_watch_interval_seconds": "30"}


class Cluster:
    def __init__(self, db: Database, workers: Workers, tenant: Tenant) -> None:
        self.db = db
        self.workers = workers
        self.tenant = tenant

    @property
    def key(self) -> str:
        return self.tenant.keys.site_key

    def kefu(self, *args: str) -> str:
        out = subprocess.run(  # the operator's command, as a separate process
            [str(KEFU), *args], env=self.workers.env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return self.db.read(lambda s: list(s.execute(text(sql), params).all()))


def health(worker: Worker) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=2) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def leaders(workers: list[Worker]) -> list[Worker]:
    return [w for w in workers if w.proc.poll() is None and health(w)["leader"]]


async def wait_leader(workers: list[Worker], within: float = 5.0) -> Worker:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = leaders(workers)
        if found:
            assert len(found) == 1, "two leaders"
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no leader")


def make_cluster(
    tmp_path: Path, database_url: str, redis_url: str | None, **settings: str
) -> Iterator[Cluster]:
    db = Database(database_url)
    db.migrate()
    tenant = make_tenant(db)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    workers = Workers(worker_env(database_url, redis_url, **settings), logs)
    try:
        yield Cluster(db, workers, tenant)
    finally:
        workers.stop_all()
        db.close()
    for worker in workers.started:  # nothing any client did put a traceback in a log
        assert "Traceback" not in worker.log_text(), worker.log_text()


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    settings = getattr(request, "param", {})
    with migrated_postgres_schema() as url:
        yield from make_cluster(tmp_path, url, REDIS_URL, **SLOW_WATCH, **settings)


def per_conversation(c: Cluster) -> dict[str, Counter[str]]:
    """Messages by role, per conversation."""
    counts: dict[str, Counter[str]] = {}
    for conv, role, n in c.rows(
        "SELECT conversation_id, role, count(*) FROM messages GROUP BY conversation_id, role"
    ):
        counts.setdefault(conv, Counter())[role] = n
    return counts


# ------------------------------------------------------------------ reload onto another worker


async def test_reload_onto_another_worker_mid_answer_answers_once(
    tmp_path: Path,
) -> None:
    with FakeOpenAI(Script(first_token_delay=1.5)) as fake, migrated_postgres_schema() as url:
        settings = {
            **SLOW_WATCH,
            "model_base_url": fake.base_url,
            "model_name": fake.default_model,
            "model_api_key": "sk-test",
        }
        for c in make_cluster(tmp_path, url, REDIS_URL, **settings):
            a, b = c.workers.start(), c.workers.start()
            chat = await Chat.start(a.ws_url, c.key)
            assert chat.welcome is not None
            token = chat.welcome["visitor"]
            ack, frames = await chat.ask("q1", "你好")
            conv = ack["conversation"]["id"]
            assert frames[-1]["type"] == "reply.end"
            # The second question is stored and being answered on A when the tab reloads onto B.
            await chat.send({"type": "message", "id": "q2", "text": "运费多少"})
            await chat.expect("ack")
            await chat.close()
            moved = await Chat.start(b.ws_url, c.key, token)
            assert moved.welcome is not None
            assert moved.welcome["conversation"]["id"] == conv
            assert [
                h.get("client_id") for h in moved.welcome["history"] if h["role"] == "visitor"
            ] == [
                "q1",
                "q2",
            ]
            with pytest.raises(TimeoutError):  # B leaves q2 to A, which holds its claim
                await moved.recv(wait=2.5)
            await moved.close()
            assert len(await fake.received(2)) == 2  # one model call per question
            await asyncio.sleep(0.5)
            assert len(fake.calls) == 2
            assert list(per_conversation(c).values()) == [Counter(visitor=2, robot=2)]
            again = await Chat.start(b.ws_url, c.key, token)
            assert again.welcome is not None
            assert [h["role"] for h in again.welcome["history"]] == ["visitor", "robot"] * 2
            ack3, _frames3 = await again.ask("q3", "谢谢")
            assert ack3["conversation"]["id"] == conv  # one unit throughout
            await again.close()
            assert c.rows("SELECT count(*) FROM conversations")[0][0] == 1


# ------------------------------------------------------------------ suspension and revocation


async def test_suspend_closes_sockets_on_every_worker_within_a_second(cluster: Cluster) -> None:
    c = cluster
    workers = [c.workers.start(), c.workers.start()]
    chats = [await Chat.start(w.ws_url, c.key) for w in workers for _ in range(2)]
    await chats[0].ask("m1", "hello")

    async def closed_at(chat: Chat) -> tuple[int | None, float]:
        code = await asyncio.wait_for(chat.close_code(), 20)
        return code, time.monotonic()

    waiting = [asyncio.create_task(closed_at(chat)) for chat in chats]
    await asyncio.to_thread(c.kefu, "licensee", "suspend", c.tenant.licensee.id)
    done = time.monotonic()
    results = await asyncio.gather(*waiting)
    assert [code for code, _ in results] == [4403] * 4
    assert max(at for _, at in results) - done <= 1.0


async def test_revoked_key_closes_its_sockets_on_every_worker(cluster: Cluster) -> None:
    c = cluster
    workers = [c.workers.start(), c.workers.start()]
    chats = [await Chat.start(w.ws_url, c.key) for w in workers]
    await asyncio.to_thread(c.kefu, "key", "revoke", c.key)
    done = time.monotonic()
    codes = await asyncio.gather(*(asyncio.wait_for(ch.close_code(), 20) for ch in chats))
    assert codes == [4403, 4403]
    assert time.monotonic() - done <= 1.5


QUICK_WATCH = {"licence_watch_interval_seconds": "0.5"}


async def test_a_change_nobody_announces_goes_from_the_leader_to_every_worker(
    tmp_path: Path,
) -> None:
    """A suspension written straight into the database (no CLI, so no signal): the leader's round
    notices it and publishes it; the other worker, which does not poll while the bus works,
    closes its sockets on that signal."""
    with migrated_postgres_schema() as url:
        for c in make_cluster(tmp_path, url, REDIS_URL, **QUICK_WATCH):
            workers = [c.workers.start(), c.workers.start()]
            leader = await wait_leader(workers)
            chats = [await Chat.start(w.ws_url, c.key) for w in workers]
            listener = Redis.from_url(REDIS_URL)
            pubsub = listener.pubsub()
            await pubsub.subscribe(c.workers.env["KEFU_REDIS_PREFIX"] + "bus")
            try:
                waiting = [
                    asyncio.create_task(asyncio.wait_for(ch.close_code(), 20)) for ch in chats
                ]
                c.db.run(
                    lambda s: s.execute(
                        text("UPDATE licensees SET status = 'suspended', updated_at = :t"),
                        {"t": utcnow()},
                    )
                )
                done = time.monotonic()
                assert await asyncio.gather(*waiting) == [4403, 4403]
                assert time.monotonic() - done <= 0.5 + 1.0  # one round, then the bus
                signals = []
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if message is not None:
                        signals.append(json.loads(message["data"]))
                told = [s for s in signals if s["t"] == "licence" and s["d"]]
                assert [s["d"]["licensee_id"] for s in told] == [c.tenant.licensee.id]
                assert told[0]["o"].startswith(f"{leader.proc.pid}-")  # from the leader only
            finally:
                await pubsub.aclose()
                await listener.aclose()


async def test_with_redis_down_a_worker_that_does_not_lead_still_learns_of_a_suspension(
    tmp_path: Path,
) -> None:
    with private_redis() as redis, migrated_postgres_schema() as url:
        for c in make_cluster(tmp_path, url, redis.url, **QUICK_WATCH):
            workers = [c.workers.start(), c.workers.start()]
            leader = await wait_leader(workers)
            other = next(w for w in workers if w is not leader)
            chat = await Chat.start(other.ws_url, c.key)
            await chat.ask("m1", "hello")
            redis.stop()
            deadline = time.monotonic() + 15
            while health(other)["shared"]:
                assert time.monotonic() < deadline, "the bus never noticed"
                await asyncio.sleep(0.1)
            # The command cannot tell the servers (it says so); it takes seconds on a busy machine.
            await asyncio.to_thread(c.kefu, "licensee", "suspend", c.tenant.licensee.id)
            done = time.monotonic()
            assert await asyncio.wait_for(chat.close_code(), 20) == 4403
            assert time.monotonic() - done <= 0.5 + 1.0  # its own round, while the bus is down


# ------------------------------------------------------------------ the sweeper, one leader


async def test_sweeper_ends_a_unit_once_and_the_widget_on_another_worker_is_told(
    cluster: Cluster,
) -> None:
    c = cluster
    workers = [c.workers.start(), c.workers.start()]
    leader = await wait_leader(workers)
    other = next(w for w in workers if w is not leader)
    # One end user with a tab on each worker.
    first = await Chat.start(other.ws_url, c.key)
    assert first.welcome is not None
    token = first.welcome["visitor"]
    ack, _ = await first.ask("m1", "hello")
    second = await Chat.start(leader.ws_url, c.key, token)
    long_ago = utcnow() - timedelta(hours=2)
    c.db.run(
        lambda s: s.execute(text("UPDATE conversations SET last_activity_at = :t"), {"t": long_ago})
    )
    for chat in (first, second):
        ended = await chat.expect("ended", wait=5)
        assert ended["conversation"]["id"] == ack["conversation"]["id"]
        assert ended["reason"] == "idle"
        with pytest.raises(TimeoutError):  # told once
            await chat.recv(wait=0.7)
        await chat.close()
    assert c.rows("SELECT end_reason FROM conversations") == [("idle",)]


async def test_kill_9_of_the_leader_under_load(cluster: Cluster) -> None:
    c = cluster
    workers = [c.workers.start() for _ in range(3)]
    victim = await wait_leader(workers)
    others = [w for w in workers if w is not victim]
    acked: dict[str, dict[str, str]] = {}  # visitor token -> client id -> conversation id
    stop = asyncio.Event()

    async def visitor(n: int) -> None:
        # Half on the leader, half on another worker; after the kill, onto the survivors.
        urls = [victim.ws_url if n % 2 else others[0].ws_url, others[n % 2].ws_url]
        token: str | None = None
        i = 0
        for url in urls:
            try:
                chat = await Chat.start(url, c.key, token)
            except Exception:
                continue
            assert chat.welcome is not None
            token = chat.welcome["visitor"]
            mine = acked.setdefault(token, {})
            try:
                while not stop.is_set() or (url == urls[-1] and i < 100 and len(mine) < i):
                    cid = f"v{n}-m{i}"
                    await chat.send({"type": "message", "id": cid, "text": f"question {i}"})
                    while True:
                        frame = await chat.recv(wait=5)
                        if frame["type"] == "ack" and frame["id"] == cid:
                            mine[cid] = frame["conversation"]["id"]
                        if frame["type"] == "reply.end":
                            break
                    i += 1
                    if url == urls[-1] and stop.is_set():
                        break
            except Exception:  # the worker died under us: reconnect to another
                continue
            finally:
                await chat.close()

    def acks() -> int:
        return sum(len(m) for m in acked.values())

    tasks = [asyncio.create_task(visitor(n)) for n in range(12)]
    await until(lambda: acks() >= 24, "the load never got going")
    victim.kill()
    started = time.monotonic()
    new_leader = await wait_leader(others, within=10)
    took_over = time.monotonic() - started
    after = acks()
    await until(lambda: acks() >= after + 12, "the load did not go on over the survivors")
    stop.set()
    await asyncio.gather(*tasks)
    assert took_over < 5, took_over
    assert new_leader in others
    assert sum(len(m) for m in acked.values()) >= 24, "the load never got going"
    stored = Counter(
        cid for (cid,) in c.rows("SELECT client_id FROM messages WHERE role = 'visitor'")
    )
    by_client = dict(
        c.rows("SELECT client_id, conversation_id FROM messages WHERE role = 'visitor'")
    )
    for mine in acked.values():
        for cid, conv in mine.items():
            assert stored[cid] == 1, cid  # every acknowledged message is there, once
            assert by_client[cid] == conv
    per_visitor = Counter(v for (v,) in c.rows("SELECT visitor_id FROM conversations"))
    assert set(per_visitor.values()) == {1}  # no unit twice
    for counts in per_conversation(c).values():  # nothing answered twice
        assert counts["robot"] <= counts["visitor"], counts


# ------------------------------------------------------------------ exactly once over workers


async def test_fifty_concurrent_retries_over_workers_make_one_message_and_one_answer(
    cluster: Cluster,
) -> None:
    c = cluster
    workers = [c.workers.start(), c.workers.start()]
    first = await Chat.start(workers[0].ws_url, c.key)
    assert first.welcome is not None
    token = first.welcome["visitor"]
    await first.close()
    tabs = await asyncio.gather(
        *(Chat.start(workers[i % 2].ws_url, c.key, token) for i in range(50))
    )

    async def send(chat: Chat) -> list[dict[str, Any]]:
        await chat.send({"type": "message", "id": "same", "text": "订单在哪里"})
        frames = []
        with pytest.raises(TimeoutError):
            while True:
                frames.append(await chat.recv(wait=2.5))
        return frames

    seen = await asyncio.gather(*(send(tab) for tab in tabs))
    acks = [f for frames in seen for f in frames if f["type"] == "ack"]
    assert len(acks) == 50, Counter(
        json.dumps(f)[:150] for frames in seen for f in frames if f["type"] != "ack"
    )
    assert len({a["conversation"]["id"] for a in acks}) == 1
    assert sum(f["type"] == "reply.end" for frames in seen for f in frames) == 1
    for tab in tabs:
        await tab.close()
    assert c.rows("SELECT count(*) FROM messages WHERE role = 'visitor'")[0][0] == 1
    assert c.rows("SELECT count(*) FROM messages WHERE role = 'robot'")[0][0] == 1
    assert c.rows("SELECT count(*) FROM conversations")[0][0] == 1


@pytest.mark.parametrize("cluster", [{"rate_visitor_messages": "4/min"}], indirect=True)
async def test_rate_limits_hold_across_workers(cluster: Cluster) -> None:
    c = cluster
    a, b = c.workers.start(), c.workers.start()
    on_a = await Chat.start(a.ws_url, c.key)
    assert on_a.welcome is not None
    on_b = await Chat.start(b.ws_url, c.key, on_a.welcome["visitor"])
    for i, chat in enumerate([on_a, on_b, on_a, on_b]):
        await chat.ask(f"m{i}", "hello")
    await on_b.send({"type": "message", "id": "m4", "text": "hello"})
    refused = await on_b.expect("error")
    assert refused["code"] == "rate_limited"
    await on_a.send({"type": "message", "id": "m5", "text": "hello"})
    assert (await on_a.expect("error"))["code"] == "rate_limited"
    await on_a.close()
    await on_b.close()


# ------------------------------------------------------------------ outages


async def test_redis_stopped_and_started_during_a_chat(tmp_path: Path) -> None:
    with private_redis() as redis, migrated_postgres_schema() as url:
        settings = {**SLOW_WATCH, "rate_visitor_messages": "4/min"}
        for c in make_cluster(tmp_path, url, redis.url, **settings):
            a, b = c.workers.start(), c.workers.start()
            chat = await Chat.start(a.ws_url, c.key)
            await chat.ask("m0", "hello")
            redis.stop()
            # The chat goes on, on this worker's view; limits hold per worker meanwhile.
            for i in range(1, 5):  # a fresh local budget of 4
                _ack, frames = await chat.ask(f"m{i}", "hello")
                assert frames[-1]["type"] == "reply.end"
            await chat.send({"type": "message", "id": "m5", "text": "hello"})
            assert (await chat.expect("error"))["code"] == "rate_limited"
            on_b = await Chat.start(b.ws_url, c.key)
            await on_b.ask("b0", "hello")
            assert "Redis unavailable" in a.log_text()
            assert not health(a)["shared"]
            redis.start()
            deadline = time.monotonic() + 10  # the bus reconnects by itself
            while not (health(a)["shared"] and health(b)["shared"]):
                assert time.monotonic() < deadline, "the bus never came back"
                await asyncio.sleep(0.1)
            waiting = [
                asyncio.create_task(asyncio.wait_for(ch.close_code(), 20)) for ch in (chat, on_b)
            ]
            await asyncio.to_thread(c.kefu, "licensee", "suspend", c.tenant.licensee.id)
            done = time.monotonic()
            assert await asyncio.gather(*waiting) == [4403, 4403]
            assert time.monotonic() - done <= 1.0  # signals cross workers again


async def test_postgres_restarted_during_a_chat(tmp_path: Path) -> None:
    with private_postgres() as pg:
        for c in make_cluster(tmp_path, pg.url, REDIS_URL, **SLOW_WATCH):
            a, b = c.workers.start(), c.workers.start()
            chat = await Chat.start(a.ws_url, c.key)
            assert chat.welcome is not None
            token = chat.welcome["visitor"]
            ack, _ = await chat.ask("m1", "hello")
            await asyncio.to_thread(pg.stop)
            await chat.send({"type": "message", "id": "m2", "text": "still there?"})
            refused = await chat.expect("error", wait=15)
            assert (refused["code"], refused["id"]) == ("unavailable", "m2")  # never acked
            with pytest.raises(InvalidStatus) as refused_socket:  # a new socket: try later
                await Chat.open(b.ws_url, c.key)
            assert refused_socket.value.response.status_code == 503
            await asyncio.to_thread(pg.start)
            ack2, _frames = await chat.ask("m2", "still there?")  # the same worker, by itself
            assert ack2["conversation"]["id"] == ack["conversation"]["id"]
            moved = await Chat.start(b.ws_url, c.key, token)
            assert moved.welcome is not None
            assert [h["role"] for h in moved.welcome["history"]] == ["visitor", "robot"] * 2
            await moved.close()
            await chat.close()
            stored = c.rows("SELECT client_id FROM messages WHERE role = 'visitor'")
            assert sorted(stored) == [("m1",), ("m2",)]
            await wait_leader([a, b])


# ------------------------------------------------------------------ kefu serve --workers N


def child_pids(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


async def test_serve_workers_runs_n_processes_behind_one_port(cluster: Cluster) -> None:
    c = cluster
    supervisor = c.workers.start("--workers", "2")
    deadline = time.monotonic() + 20
    children: list[str] = []
    while time.monotonic() < deadline:
        children = child_pids(supervisor.proc.pid)
        if len(children) >= 2:
            break
        await asyncio.sleep(0.2)
    assert len(children) >= 2
    for i in range(6):
        chat = await Chat.start(supervisor.ws_url, c.key)
        await chat.ask(f"m{i}", "hello")
        await chat.close()
    # One response per sample: its pid and its flag (two requests may reach two workers).
    # Until both workers have answered and one leads (a lease after the first takes the lock).
    seen: dict[int, bool] = {}
    deadline = time.monotonic() + 20
    while len(seen) < 2 or sum(seen.values()) != 1:
        assert time.monotonic() < deadline, seen
        sample = health(supervisor)
        seen[sample["pid"]] = sample["leader"]
        assert sum(seen.values()) <= 1, seen  # never two leaders
    # The workers answer, not the supervisor (nor its resource tracker), and none was replaced.
    assert set(seen) <= {int(p) for p in children} and set(seen) <= set(
        map(int, child_pids(supervisor.proc.pid))
    )
    assert c.rows("SELECT count(*) FROM messages WHERE role = 'robot'")[0][0] == 6


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = worker_env(f"sqlite:///{tmp_path}/kefu.db", None)
    out = subprocess.run(
        [str(KEFU), "serve", "--workers", "2", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "PostgreSQL" in out.stderr and "KEFU_REDIS_URL" in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    with migrated_postgres_schema() as url:
        out = subprocess.run(
            [str(KEFU), "serve", "--workers", "2", "--port", "1"],
            env=worker_env(url, None),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode != 0
    assert "KEFU_REDIS_URL" in out.stderr and "Traceback" not in out.stderr
