"""Chat latency (message -> reply.end) and answered messages/s for 200 users on one server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    add_client_arguments,
    bench_server,
    client_processes,
    exit_on_sigterm,
    has_builtin_answerer,
    pct,
    questions,
    run_client,
    run_visitors,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

TARGET_P99_MS = 50.0
TARGET_RATE = 1000.0  # answered messages per second


# ---------------------------------------------------------------- client process


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    qs = questions()
    rng = random.Random(args.seed)
    w0 = args.start_at + args.warmup
    w1 = w0 + args.window
    lat: list[float] = []
    corrected: list[float] = []
    errors: Counter[str] = Counter()
    counts = Counter[str]()

    async def user(u: int, ws: ClientConnection) -> None:
        interval = args.interval
        now = time.monotonic()
        if now < args.start_at:
            await asyncio.sleep(args.start_at - now)
        next_t = time.monotonic() + (rng.random() * interval if interval else 0.0)
        k = 0
        while True:
            if interval:
                delay = next_t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    counts["late_sends"] += 1
                intended = next_t
                next_t += interval
            else:
                intended = time.monotonic()
            if intended > w1:
                return
            text, _ = rng.choice(qs)
            k += 1
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "message", "id": f"u{u}-{k}", "text": text}))
            # One deadline for the whole answer, not a wait_for (a task) per frame: the load
            # generator shares the machine with the server, and its CPU slows the server down.
            async with asyncio.timeout(15):
                raw = await ws.recv()
                while '"reply.end"' not in raw[:30] and '"error"' not in raw[:30]:
                    raw = await ws.recv()
            if '"error"' in raw[:30]:
                errors[json.loads(raw).get("code", "?")] += 1
                continue
            done = time.monotonic()
            if w0 <= done <= w1:
                lat.append(done - sent)
                corrected.append(done - intended)
                counts["answered"] += 1
                if '"sources":[]' not in raw:
                    counts["with_source"] += 1

    cpu = await run_visitors(args.url, args.first_user, args.users, rng, qs, errors, counts, user)
    return {
        "lat": lat,
        "corrected": corrected,
        "errors": dict(errors),
        "counts": dict(counts),
        "cpu": cpu,
    }


# ---------------------------------------------------------------- orchestration


def warm(url: str) -> None:
    """One answered question, so that the index is built and imports are done before timing."""
    from websockets.sync.client import connect

    with connect(url, origin=ORIGIN, compression=None, open_timeout=10) as ws:
        ws.send(HELLO)
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "id": "warm", "text": "怎么取消订单？"}))
        while '"reply.end"' not in str(ws.recv(timeout=30)):
            pass


def one_run(args: argparse.Namespace, interval: float, seed: int) -> dict[str, Any]:
    # Rate limits raised: 200 users on one site key, each far above a human's pace.
    with bench_server(RAISED_LIMITS, demo_kb=True) as server:
        warm(server.chat_url)
        run = client_processes(
            __file__,
            server.chat_url,
            args.users,
            args.clients,
            start_at=time.monotonic() + args.setup,
            warmup=args.warmup,
            window=args.window,
            seed=seed,
            extra=["--interval", repr(interval)],
            watch=[server.pid],
        )
    outs = run.outs
    lat = [v for o in outs for v in o["lat"]]
    corrected = [v for o in outs for v in o["corrected"]]
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for o in outs:
        counts.update(o["counts"])
        errors.update(o["errors"])
    answered = len(lat)
    (server_cpu,) = run.cpu
    return {
        "rate": answered / args.window,
        "p50": pct(lat, 0.50) * 1000,
        "p90": pct(lat, 0.90) * 1000,
        "p99": pct(lat, 0.99) * 1000,
        "max": max(lat, default=float("nan")) * 1000,
        "cp99": pct(corrected, 0.99) * 1000,
        "answered": answered,
        "ready": counts["ready"],
        "late": counts["late_sends"],
        "with_source": counts["with_source"],
        "errors": dict(errors),
        "server_cpu_ms": server_cpu / max(answered, 1) * 1000,
        "server_util": server_cpu / args.window,
        "client_cpu_ms": run.clients_cpu / max(answered, 1) * 1000,
        "client_util": run.clients_cpu / args.window,
        "other_util": max(0.0, run.busy_cpu - server_cpu - run.clients_cpu) / args.window,
        "load": run.load,
    }


def report(label: str, rows: list[dict[str, Any]], first: int = 1) -> None:
    for i, r in enumerate(rows, first):
        print(
            f"  {label} run {i}: {r['rate']:7,.0f} answered/s  p50 {r['p50']:6.1f}  "
            f"p90 {r['p90']:6.1f}  p99 {r['p99']:6.1f}  max {r['max']:6.1f} ms  "
            f"(p99 from schedule {r['cp99']:.1f} ms, late sends {r['late']})"
        )
        print(
            f"      users ready {r['ready']}, answered {r['answered']:,} "
            f"({r['with_source'] / max(r['answered'], 1):.0%} with a KB source), errors "
            f"{r['errors'] or 0}; server CPU {r['server_cpu_ms']:.2f} ms/msg "
            f"({r['server_util']:.0%} of one core; ceiling "
            f"{1000 / max(r['server_cpu_ms'], 1e-9):,.0f} msg/s per core); "
            f"client CPU {r['client_cpu_ms']:.2f} ms/msg"
        )
        print(
            f"      cores busy in the window: server {r['server_util']:.2f}, clients "
            f"{r['client_util']:.2f}, other processes {r['other_util']:.2f} (of {os.cpu_count()}); "
            f"{r['load']}"
        )


def spread(rows: list[dict[str, Any]], key: str, fmt: str) -> str:
    values = [r[key] for r in rows]
    return (
        f"median {format(statistics.median(values), fmt)}  "
        f"min {format(min(values), fmt)}  max {format(max(values), fmt)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_client_arguments(parser)
    parser.add_argument("--interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--setup", type=float, default=4.0, help="seconds to connect everyone")
    parser.add_argument(
        "--per-user-rate",
        type=float,
        default=5.0,
        help="messages/s each user sends in the paced runs (200 x 5/s = 1,000/s offered)",
    )
    parser.add_argument(
        "--low-rate",
        type=float,
        default=2.0,
        help="messages/s per user in the lower-load paced runs (0 skips them)",
    )
    parser.add_argument("--saturation-runs", type=int, default=3)
    args = parser.parse_args()
    exit_on_sigterm()
    if args.child:
        return run_client(partial(client_main, args))
    if not has_builtin_answerer():
        print("Throughput: skipped, the built-in answerer is not there yet")
        print(f"  targets: p99 <= {TARGET_P99_MS:.0f} ms  FAIL (not measured)")
        print(f"           >= {TARGET_RATE:,.0f} answered messages/s  FAIL (not measured)")
        return 0

    print(
        f"Throughput: {args.users} users on one `kefu serve` (SQLite FULL, demo KB), "
        f"{args.clients} client processes, {args.warmup:.0f} s warm-up + {args.window:.0f} s "
        f"window per run.\nTargets: p99 <= {TARGET_P99_MS:.0f} ms and >= {TARGET_RATE:,.0f} "
        "answered/s (paced runs). Rate limits raised for the bench. Latency = message sent -> "
        "reply.end received."
    )
    modes = [
        ("paced", args.per_user_rate, args.runs),
        ("lower load", args.low_rate, args.runs if args.low_rate else 0),
        ("saturation", 0.0, args.saturation_runs),
    ]
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for seed, (label, per_user, runs) in enumerate(modes):
            if not runs:
                continue
            if per_user:
                print(
                    f"\n[{label}] each user sends {per_user:g} msg/s on a fixed schedule "
                    f"({args.users * per_user:,.0f} msg/s offered)"
                )
            else:
                print(f"\n[{label}] each user sends its next message as soon as reply.end arrives")
            rows = results.setdefault(label, [])
            for run in range(runs):
                rows.append(one_run(args, 1.0 / per_user if per_user else 0.0, seed * 10 + run))
                report(label, rows[-1:], run + 1)
    except Exception as exc:
        print(f"  run failed: {type(exc).__name__}: {exc}")

    print("\nSummary (median, min and max over runs)")
    for label, rows in results.items():
        if not rows:
            continue
        print(f"  [{label}]")
        for key, name, fmt in [
            ("p50", "p50 ms", ".1f"),
            ("p90", "p90 ms", ".1f"),
            ("p99", "p99 ms", ".1f"),
            ("max", "max ms", ".1f"),
            ("rate", "answered/s", ",.0f"),
            ("server_cpu_ms", "server CPU ms/msg", ".2f"),
            ("server_util", "server cores busy", ".2f"),
            ("other_util", "other procs' cores", ".2f"),
        ]:
            verdict = ""
            if label == "paced" and key == "p99":
                ok = statistics.median(r["p99"] for r in rows) <= TARGET_P99_MS
                verdict = f"  target <= {TARGET_P99_MS:.0f} ms  {'PASS' if ok else 'FAIL'}"
            if label == "paced" and key == "rate":
                ok = statistics.median(r["rate"] for r in rows) >= TARGET_RATE
                verdict = f"  target >= {TARGET_RATE:,.0f}/s  {'PASS' if ok else 'FAIL'}"
            print(f"    {name:<20} {spread(rows, key, fmt)}{verdict}")
    if not results.get("paced"):
        print("  paced: no run completed  FAIL")
    cpu = [r["server_cpu_ms"] for rows in results.values() for r in rows]
    if cpu:
        ceiling = 1000 / statistics.median(cpu)
        print(
            f"  server capacity ceiling from its CPU per message: {ceiling:,.0f} msg/s per "
            "fully available core (one process: its event loop is one core)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
