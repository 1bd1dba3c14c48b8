"""Hand-off delivery: agents and end users talking through one `kefu serve`.

50 agents (5 per licensee, 10 licensees) and 500 end users (50 per licensee) on one server
process on SQLite. Every end user asks for a person; the agents accept them all from their live
queues (racing each other, as people would); then, for ``--seconds``, each end user writes every
``--interval`` seconds on average (jittered) and the agent holding the conversation answers each
message at once. Measured in the client process, on one clock:

- end user -> agent: ``message`` sent by the end user -> ``conversation.message`` read by the
  agent's console (stored, acknowledged and relayed);
- agent -> end user: the agent's ``message`` sent -> ``agent.message`` read by the widget socket.

The clients share the machine (and its 2 cores) with the server: the figures include the
client's own event-loop delay. Run: ``.venv/bin/python bench/handoff_latency.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    ORIGIN,
    RAISED_LIMITS,
    free_port,
    load_figures,
    pct,
    proc_cpu_seconds,
    server_env,
    start_server,
    stop_server,
)


def make_tenants(
    db_url: str, licensees: int, per: int
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Licensees (id -> site key), their agent users and signed-in sessions (licensee id, session
    token), made on the database before the server starts."""
    from core.accounts import Role, create_user, start_session
    from core.db.engine import Database
    from core.licensing.licensees import create_licensee

    db = Database(db_url)
    db.migrate()
    keys: dict[str, str] = {}
    sessions = []
    now = datetime.now(UTC)
    with db.session() as s:
        for n in range(licensees):
            licensee, created = create_licensee(s, name=f"Bench {n}", origins=[ORIGIN], now=now)
            keys[licensee.id] = created.site_key
            for a in range(per):
                user = create_user(
                    s,
                    email=f"agent{a}@bench{n}.example.com",
                    password="bench-password-1234",
                    role=Role.AGENT,
                    now=now,
                    licensee_id=licensee.id,
                    name=f"Agent {a}",
                )
                sessions.append((licensee.id, start_session(s, user, now)))
        s.commit()
    db.close()
    return keys, sessions


class Agent:
    def __init__(self, conn: ClientConnection, target: int) -> None:
        self.conn = conn
        self.target = target  # conversations to hold before leaving the queue to others
        self.held: set[str] = set()
        self.tried: set[str] = set()
        self.to_agent: list[float] = []
        self.replies = 0

    async def run(self, sent: dict[str, float], replied: dict[str, float]) -> None:
        async for raw in self.conn:
            f = json.loads(raw)
            kind = f["type"]
            if kind == "queue" and len(self.held) < self.target:
                items = [
                    i["conversation"] for i in f["items"] if i["conversation"] not in self.tried
                ]
                random.shuffle(items)
                for conv in items[: self.target - len(self.held)]:
                    self.tried.add(conv)
                    await self.conn.send(json.dumps({"type": "accept", "conversation": conv}))
            elif kind == "assigned":
                self.held.add(f["conversation"])
            elif kind == "conversation.message" and f["message"]["role"] == "visitor":
                text = f["message"]["text"]
                if text.startswith("q:"):
                    self.to_agent.append(time.perf_counter() - sent.pop(text, time.perf_counter()))
                    answer = "a:" + text[2:]
                    replied[answer] = time.perf_counter()
                    self.replies += 1
                    await self.conn.send(
                        json.dumps(
                            {
                                "type": "message",
                                "conversation": f["conversation"],
                                "id": f"r{self.replies}-{text[2:]}",
                                "text": answer,
                            }
                        )
                    )


class EndUser:
    def __init__(self, conn: ClientConnection, name: str) -> None:
        self.conn = conn
        self.name = name
        self.assigned = asyncio.Event()
        self.to_user: list[float] = []
        self.n = 0
        self.asked: dict[str, float] = {}  # the robot phase: client id -> when sent
        self.to_robot: list[float] = []

    async def ask_robot(self, until: float, interval: float) -> None:
        """The baseline: the same end users writing to the robot (stored and acknowledged: the
        write an end user's message to an agent makes too), message -> ack."""
        await asyncio.sleep(random.uniform(0, interval))
        while time.perf_counter() < until:
            self.n += 1
            cid = f"r{self.n}"
            self.asked[cid] = time.perf_counter()
            text = json.dumps({"type": "message", "id": cid, "text": f"hello {self.n}"})
            await self.conn.send(text)
            await asyncio.sleep(random.uniform(0.5, 1.5) * interval)

    async def run(self, replied: dict[str, float]) -> None:
        async for raw in self.conn:
            f = json.loads(raw)
            if f["type"] == "ack" and f["id"] in self.asked:
                self.to_robot.append(time.perf_counter() - self.asked.pop(f["id"]))
            elif f["type"] == "handoff" and f["status"] == "assigned":
                self.assigned.set()
            elif f["type"] == "agent.message" and f["text"].startswith("a:"):
                at = replied.pop(f["text"], None)
                if at is not None:
                    self.to_user.append(time.perf_counter() - at)

    async def talk(self, sent: dict[str, float], until: float, interval: float) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while time.perf_counter() < until:
            self.n += 1
            text = f"q:{self.name}-{self.n}"
            sent[text] = time.perf_counter()
            await self.conn.send(json.dumps({"type": "message", "id": f"m{self.n}", "text": text}))
            await asyncio.sleep(random.uniform(0.5, 1.5) * interval)


async def run(
    args: argparse.Namespace, port: int, agents_at: list[tuple[str, str]], keys: dict[str, str]
) -> dict[str, Any]:
    origin = f"http://127.0.0.1:{port}"
    agents: list[Agent] = []
    sent: dict[str, float] = {}
    replied: dict[str, float] = {}
    tasks = []
    per_lic_users = args.users // len(keys)
    per_lic_agents = args.agents // len(keys)
    target = -(-per_lic_users // per_lic_agents) + 2
    for _lic, token in agents_at:
        conn = await connect(
            f"ws://127.0.0.1:{port}/v1/agent",
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"kefu_session={token}"},
            compression=None,
            max_queue=None,
        )
        agent = Agent(conn, target)
        agents.append(agent)
        tasks.append(asyncio.create_task(agent.run(sent, replied)))
    users: list[EndUser] = []
    for lic, key in keys.items():
        for n in range(per_lic_users):
            conn = await connect(
                f"ws://127.0.0.1:{port}/v1/chat?key={key}",
                origin=ORIGIN,
                compression=None,
                max_queue=None,
            )
            await conn.send(json.dumps({"type": "hello", "visitor": None, "locale": "zh-CN"}))
            user = EndUser(conn, f"{lic[-6:]}-{n}")
            users.append(user)
            tasks.append(asyncio.create_task(user.run(replied)))
    # A: the same end users with the robot, before any hand-off.
    until = time.perf_counter() + args.seconds
    await asyncio.gather(*(u.ask_robot(until, args.interval) for u in users))
    await asyncio.sleep(2)
    to_robot = [x * 1000 for u in users for x in u.to_robot]
    # B: every end user asks for a person; the agents take them all.
    started = time.perf_counter()
    for user in users:
        await user.conn.send(json.dumps({"type": "handoff"}))
    await asyncio.wait_for(asyncio.gather(*(u.assigned.wait() for u in users)), 120)
    all_assigned = time.perf_counter() - started
    server_cpu0 = proc_cpu_seconds(args.server_pid)
    client_cpu0 = time.process_time()
    until = time.perf_counter() + args.seconds
    await asyncio.gather(*(u.talk(sent, until, args.interval) for u in users))
    await asyncio.sleep(2)  # the last replies
    server_cpu = proc_cpu_seconds(args.server_pid) - server_cpu0
    client_cpu = time.process_time() - client_cpu0
    for t in tasks:
        t.cancel()
    for c in [a.conn for a in agents] + [u.conn for u in users]:
        await c.close()
    to_agent = [x * 1000 for a in agents for x in a.to_agent]
    to_user = [x * 1000 for u in users for x in u.to_user]
    return {
        "agents": len(agents),
        "end_users": len(users),
        "all_assigned_s": round(all_assigned, 2),
        "messages_each_way": [len(to_agent), len(to_user)],
        "lost": [len(sent), len(replied)],
        "end_user_to_robot_ack_ms": figures(to_robot),
        "end_user_to_agent_ms": figures(to_agent),
        "agent_to_end_user_ms": figures(to_user),
        "server_cpu_share": round(server_cpu / (args.seconds + 2), 2),
        "client_cpu_share": round(client_cpu / (args.seconds + 2), 2),
    }


TARGET_MS = 100.0


def figures(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values, 0.50), 1),
        "p95": round(pct(values, 0.95), 1),
        "p99": round(pct(values, 0.99), 1),
        "max": round(max(values), 1) if values else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--licensees", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--interval", type=float, default=5.0, help="mean seconds between an end user's messages"
    )
    parser.add_argument(
        "--dir", default=None, help="where the database goes (/dev/shm: no disk fsync stalls)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-", dir=args.dir) as tmp:
        env = server_env(tmp, RAISED_LIMITS)
        keys, agents_at = make_tenants(
            env["KEFU_DATABASE_URL"], args.licensees, args.agents // args.licensees
        )
        port = free_port()
        proc = start_server(env, port)
        args.server_pid = proc.pid
        try:
            result = asyncio.run(run(args, port, agents_at, keys))
        finally:
            stop_server(proc)
    worst = max(result["end_user_to_agent_ms"]["p99"], result["agent_to_end_user_ms"]["p99"])
    result["target"] = "p99 <= 100 ms each way (50 agents, 500 end users, one process)"
    result["verdict"] = "PASS" if worst <= TARGET_MS else "FAIL"
    result["load"] = load_figures()
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
