"""New conversations recorded durably per second on SQLite: the group commit against a transaction
per write (A/B in one run), and end to end through `kefu serve`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    bench_server,
    busy_cpu_seconds,
    exit_on_sigterm,
    first_message_load,
    has_builtin_answerer,
    load_figures,
    mount_of,
    proc_cpu_seconds,
)

TARGET_RATE = 2000.0  # new conversations per second, durably stored (SQLite, synchronous=FULL)
TMP_DIR: str | None = None  # where the databases go (--dir); default: the system temp dir


# ---------------------------------------------------------------- helpers shared by both parts


def filesystem_of(path: str) -> str:
    """The mount point and type holding ``path`` (fsync cost depends on it: tmpfs is free)."""
    mount, kind = mount_of(path)
    return f"{kind} (mounted at {mount})"


def fmt_spread(values: list[float], unit: str = "/s") -> str:
    return (
        f"median {statistics.median(values):,.0f}{unit}  min {min(values):,.0f}{unit}  "
        f"max {max(values):,.0f}{unit}"
    )


# ---------------------------------------------------------------- part 1: the write path directly

# How a write reaches the database: "group" is ``Database.write``, the group commit `kefu serve`
# uses; "single" is the plain alternative it is judged against, one transaction per write in
# one thread (each its own BEGIN IMMEDIATE, statements and fsync'd COMMIT).
PATHS = ("group", "single")


def writer_run(n: int, inflight: int | None, sync: str, path: str) -> dict[str, Any]:
    """One run on a fresh database: n distinct visitors, each sending a first message.

    ``inflight`` None submits all n at once (a burst); a number keeps that many in flight,
    submitting the next as soon as one is durable (a closed loop, like connected widgets).
    """
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text
    from sqlmodel import Session

    from core.db.engine import Database

    with tempfile.TemporaryDirectory(prefix="kefu-bench-", dir=TMP_DIR) as tmp:
        db = Database(f"sqlite:///{tmp}/kefu.db", sqlite_synchronous=sync)
        single = ThreadPoolExecutor(1, thread_name_prefix="bench-single")
        try:
            db.migrate()
            speakers, op = first_message_load(db, n)

            def alone(fn: Any) -> Any:
                with Session(db.write_engine, expire_on_commit=False) as s, s.begin():
                    return fn(s)

            async def write(fn: Any) -> Any:
                if path == "group":
                    return await db.write(fn)
                return await asyncio.get_running_loop().run_in_executor(single, alone, fn)

            async def drive() -> list[Any]:
                if inflight is None:
                    return list(await asyncio.gather(*(write(op(who)) for who in speakers)))
                # A closed loop: each of ``inflight`` workers submits its next visitor as soon
                # as its last one is durable.
                pending = iter(speakers)

                async def worker() -> list[Any]:
                    return [await write(op(who)) for who in pending]

                chunks = await asyncio.gather(*(worker() for _ in range(min(inflight, n))))
                return [r for chunk in chunks for r in chunk]

            asyncio.run(write(lambda session: None))  # open the write connection before timing
            b0, o0 = db.writer.batches, db.writer.operations
            cpu0 = time.process_time()
            busy0 = busy_cpu_seconds()
            t0 = time.perf_counter()
            results = asyncio.run(drive())
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            others = max(0.0, busy_cpu_seconds() - busy0 - cpu) / elapsed
            started = sum(1 for r in results if r.started)
            stored = db.read(
                lambda s: s.execute(text("SELECT count(*) FROM conversations")).scalar_one()
            )
            batches = db.writer.batches - b0 if path == "group" else n
            ops = db.writer.operations - o0 if path == "group" else n
        finally:
            single.shutdown()
            db.close()
    return {
        "n": n,
        "elapsed": elapsed,
        "rate": n / elapsed,
        "batches": batches,
        "ops_per_batch": ops / max(batches, 1),
        "started": started,
        "stored": stored,
        "cpu_per_conv_ms": cpu / n * 1000,
        "others": others,
    }


def bench_writer(n: int, runs: int, sync: str) -> dict[tuple[str, str], list[float]]:
    """Both write paths, burst and closed loop, alternating within each round."""
    print(
        f"\n[write path] {n:,} new visitors per run, synchronous={sync}; group = group commit "
        "(Database.write), single = a transaction per write in one thread"
    )
    rates: dict[tuple[str, str], list[float]] = {}
    for run in range(1, runs + 1):
        for path in PATHS:
            for inflight in (None, 256):
                mode = "burst" if inflight is None else f"{inflight} in flight"
                r = writer_run(n, inflight, sync, path)
                ok = r["started"] == n and r["stored"] == n
                rates.setdefault((path, mode), []).append(r["rate"])
                print(
                    f"  run {run} {path:<6} {mode:<13}: {r['rate']:8,.0f} conv/s  "
                    f"{r['elapsed']:6.2f} s  commits {r['batches']:5d} "
                    f"(avg {r['ops_per_batch']:5.1f}/commit)  CPU {r['cpu_per_conv_ms']:.3f} "
                    f"ms/conv  other procs {r['others']:.1f} cores  "
                    f"{'stored ' + str(r['stored']) if ok else 'MISMATCH ' + str(r)}"
                )
    return rates


# ---------------------------------------------------------------- part 2: through the server


async def e2e_client(url: str, n: int, conns: int, deadline: float) -> dict[str, Any]:
    """``conns`` sockets; each says hello as a new visitor, sends one message, waits for ack,
    then reconnects as another new visitor, until ``n`` first messages were acknowledged."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    counter = iter(range(n))
    errors: list[str] = []

    async def worker() -> None:
        while time.monotonic() < deadline:
            i = next(counter, None)
            if i is None:
                return
            try:
                async with connect(
                    url, origin=ORIGIN, compression=None, open_timeout=10, close_timeout=1
                ) as ws:
                    await ws.send(HELLO)
                    while json.loads(await ws.recv())["type"] != "welcome":
                        pass
                    t0 = time.perf_counter()
                    await ws.send(json.dumps({"type": "message", "id": f"m{i}", "text": "订单"}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if frame["type"] == "ack":
                            latencies.append(time.perf_counter() - t0)
                            break
                        if frame["type"] == "error":
                            errors.append(frame["code"])
                            break
            except Exception as exc:
                errors.append(type(exc).__name__)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return {"elapsed": time.perf_counter() - t0, "lat": latencies, "errors": errors}


def bench_e2e(n: int, runs: int, conns: int, budget: float) -> list[float] | None:
    if not has_builtin_answerer():
        print("\n[end to end] skipped: the built-in answerer is not there yet")
        return None
    print(
        f"\n[end to end] real `kefu serve` (SQLite FULL), {n:,} new visitors per run over "
        f"{conns} concurrent sockets:\n  each visitor = connect + hello + welcome + first "
        "message; rate = first messages acknowledged per second (ack = stored durably)"
    )
    rates: list[float] = []
    for run in range(1, runs + 1):
        # Rate limits raised: one site key opens thousands of conversations per second here.
        with bench_server(RAISED_LIMITS, tmp_dir=TMP_DIR) as server:
            url = server.chat_url
            asyncio.run(e2e_client(url, 50, 10, time.monotonic() + 30))  # warm-up
            cpu0 = proc_cpu_seconds(server.pid)
            c0 = time.process_time()
            r = asyncio.run(e2e_client(url, n, conns, time.monotonic() + budget))
            server_cpu = proc_cpu_seconds(server.pid) - cpu0
            client_cpu = time.process_time() - c0
        done = len(r["lat"])
        rate = done / r["elapsed"]
        rates.append(rate)
        lat = sorted(r["lat"]) or [float("nan")]
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(
            f"  run {run}: {rate:7,.0f} new conv/s  ({done:,} acked in {r['elapsed']:.1f} s, "
            f"errors {len(r['errors'])})  ack p50 {p50:.1f} ms p99 {p99:.1f} ms  "
            f"server CPU {server_cpu / max(done, 1) * 1000:.2f} ms/conv "
            f"(ceiling {done / max(server_cpu, 1e-9):,.0f}/s per core)  "
            f"client CPU {client_cpu / max(done, 1) * 1000:.2f} ms/conv"
        )
    print(f"  -> {fmt_spread(rates)}")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="new visitors per write-path run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--e2e-n", type=int, default=3_000, help="new visitors per e2e run")
    parser.add_argument("--e2e-runs", type=int, default=3)
    parser.add_argument("--e2e-conns", type=int, default=100)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--dir", help="directory for the databases (default: system temp dir)")
    args = parser.parse_args()
    exit_on_sigterm()
    global TMP_DIR
    TMP_DIR = args.dir
    where = args.dir or tempfile.gettempdir()
    print(f"Databases in {where}: filesystem {filesystem_of(where)}")
    print(f"Load average at start: {load_figures()} ({os.cpu_count()} CPUs)")

    print(f"Conversation rate: target >= {TARGET_RATE:,.0f} new conversations/s, durable")
    rates = bench_writer(args.n, args.runs, "FULL")
    e2e = None if args.no_e2e else bench_e2e(args.e2e_n, args.e2e_runs, args.e2e_conns, 120)

    print("\nSummary (conversations/s, SQLite synchronous=FULL)")
    for (path, mode), values in rates.items():
        ok = statistics.median(values) >= TARGET_RATE
        verdict = f"target >= {TARGET_RATE:,.0f}/s  {'PASS' if ok else 'FAIL'}"
        print(f"  {path:<6} {mode:<13} {fmt_spread(values)}  {verdict if path == 'group' else ''}")
    for mode in ("burst", "256 in flight"):
        ratio = statistics.median(rates["group", mode]) / statistics.median(rates["single", mode])
        print(f"  group commit / single, {mode}: {ratio:.1f}x")
    if e2e:
        share = statistics.median(e2e) / TARGET_RATE
        print(
            f"  end to end (WebSocket, new visitor -> ack): {fmt_spread(e2e)}  "
            f"= {share:.0%} of {TARGET_RATE:,.0f}/s (informative: the target is the writer's)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
