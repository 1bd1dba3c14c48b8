"""Several workers on PostgreSQL and Redis against one process on PostgreSQL, in one run.

1. CPU per answered message: ``kefu serve --workers 2`` (PostgreSQL + Redis) against ``kefu
   serve`` (PostgreSQL alone), the same closed-loop load; the servers' CPU (every process of
   each) divided by the replies. Target: at most 1.3x.
2. Capacity at the SLO (p99 ``message`` -> ``reply.end`` <= 50 ms): the load steps up (open
   loop, messages a second) on 1 and on 2 workers, alternately; the highest rate whose p99 held.
   The load generator runs in this process: its own CPU is reported, since on a 2-core machine
   it competes with the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import (
    KEFU,
    ORIGIN,
    RAISED_LIMITS,
    free_port,
    load_figures,
    pct,
    proc_cpu_seconds,
    stop_server,
    wait_accept,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_URL = os.environ.get("KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SLO_P99_MS = 50.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (uvicorn's supervisor and its workers)."""
    total = proc_cpu_seconds(pid)
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return total + sum(tree_cpu(int(k)) for k in kids)


@contextmanager
def server(url: str, workers: int) -> Iterator[tuple[int, int, str]]:
    """``kefu serve`` on the schema at ``url``: (pid, port, site key)."""
    from core.db.engine import Database
    from core.licensing.licensees import create_licensee
    from core.types import utcnow

    db = Database(url)
    db.migrate()
    with db.session() as session:
        _lic, keys = create_licensee(session, name="Bench", origins=[ORIGIN], now=utcnow())
        session.commit()
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(RAISED_LIMITS)
    env.update(
        KEFU_DATABASE_URL=url,
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_RETRIEVAL_ENCODER="off",
        KEFU_RATE_ADDRESS_MESSAGES="1000000/s",
        KEFU_MAX_SOCKETS_PER_ADDRESS="10000",
    )
    if workers > 1:
        env.update(KEFU_REDIS_URL=REDIS_URL, KEFU_REDIS_PREFIX=f"b{secrets.token_hex(4)}:")
    port = free_port()
    args = [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*args, "--workers", str(workers)] if workers > 1 else args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_accept(proc, port, time.monotonic() + 60)
        time.sleep(2.0)  # every worker up, imports warmed
        yield proc.pid, port, keys.site_key
    finally:
        stop_server(proc)


async def load(
    port: int, key: str, conns: int, seconds: float, rate: float | None
) -> dict[str, Any]:
    """``conns`` visitors; each asks, waits for reply.end, asks again (closed loop), or, with
    ``rate``, the visitors together ask ``rate`` questions a second (open loop)."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    errors = 0
    url = f"ws://127.0.0.1:{port}/v1/chat?key={key}"
    socks = []
    for _ in range(conns):
        ws = await connect(url, origin=ORIGIN, compression=None, ping_interval=None)
        await ws.send(json.dumps({"type": "hello", "visitor": None, "locale": "zh-CN"}))
        while '"welcome"' not in await ws.recv():
            pass
        socks.append(ws)
    stop = time.monotonic() + seconds
    per_conn_interval = conns / rate if rate else 0.0

    async def visitor(i: int, ws: Any) -> None:
        nonlocal errors
        n = 0
        next_at = time.monotonic() + (i * per_conn_interval / conns)
        while time.monotonic() < stop:
            if rate:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += per_conn_interval
            cid = f"m{n}"
            n += 1
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "id": cid, "text": "运费多少"}))
            try:
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["type"] == "reply.end":
                        latencies.append((time.perf_counter() - t0) * 1000)
                        break
                    if frame["type"] == "error":
                        errors += 1
                        break
            except TimeoutError:
                errors += 1

    cpu0 = time.process_time()
    t0 = time.monotonic()
    await asyncio.gather(*(visitor(i, ws) for i, ws in enumerate(socks)))
    elapsed = time.monotonic() - t0
    gen_cpu = time.process_time() - cpu0
    for ws in socks:
        await ws.close()
    return {
        "replies": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": pct(latencies, 0.5) if latencies else float("nan"),
        "p99": pct(latencies, 0.99) if latencies else float("nan"),
        "errors": errors,
        "gen_cpu": gen_cpu / elapsed,
    }


def measure(
    pid: int, port: int, key: str, conns: int, seconds: float, rate: float | None
) -> dict[str, Any]:
    cpu0 = tree_cpu(pid)
    result = asyncio.run(load(port, key, conns, seconds, rate))
    result["server_cpu"] = tree_cpu(pid) - cpu0
    result["cpu_ms_per_reply"] = result["server_cpu"] / max(result["replies"], 1) * 1000
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conns", type=int, default=20, help="visitors of the CPU comparison")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rates", default="50,100,200,300,400", help="open-loop steps, msg/s")
    args = parser.parse_args()
    from testkit.databases import postgres_schema

    print(f"several workers; load before: {load_figures()}")
    with (
        postgres_schema(PG_URL) as one_url,
        postgres_schema(PG_URL) as two_url,
        server(one_url, 1) as one,
        server(two_url, 2) as two,
    ):
        cpu: dict[str, list[float]] = {"1 process, PG": [], "2 workers, PG + Redis": []}
        for _ in range(args.runs):  # interleaved: the machine's load hits both alike
            for name, (pid, port, key) in zip(cpu, (one, two), strict=True):
                r = measure(pid, port, key, args.conns, args.seconds, None)
                cpu[name].append(r["cpu_ms_per_reply"])
                print(
                    f"  {name:22} {r['rate']:6.0f} replies/s  server CPU"
                    f" {r['cpu_ms_per_reply']:.2f} ms/reply  p99 {r['p99']:.1f} ms"
                    f"  errors {r['errors']}  load generator {r['gen_cpu']:.0%} of a core"
                )
        a, b = (statistics.median(v) for v in cpu.values())
        print(
            f"CPU per answered message: 1 process {a:.2f} ms, 2 workers {b:.2f} ms:"
            f" {b / a:.2f}x (target <= 1.3x); load {load_figures()}"
        )
        print(f"capacity at p99 <= {SLO_P99_MS:.0f} ms (open loop, {args.conns} visitors):")
        best = {"1 worker": 0.0, "2 workers": 0.0}
        for rate in (float(r) for r in args.rates.split(",")):
            for name, (pid, port, key) in zip(best, (one, two), strict=True):
                r = measure(pid, port, key, args.conns, args.seconds, rate)
                held = r["p99"] <= SLO_P99_MS and r["errors"] == 0
                if held:
                    best[name] = max(best[name], r["rate"])
                print(
                    f"  {rate:5.0f}/s offered, {name:9}: {r['rate']:6.0f}/s answered,"
                    f" p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms"
                    f" {'held' if held else 'MISSED'}; load generator"
                    f" {r['gen_cpu']:.0%} of a core; load {load_figures()}"
                )
        print(
            f"capacity at the SLO: 1 worker {best['1 worker']:.0f}/s,"
            f" 2 workers {best['2 workers']:.0f}/s; load after {load_figures()}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
