"""What the Prometheus metrics cost per answered message: the same load on `kefu serve` with
metrics on (and scraped) and off (KEFU_METRICS=false), alternated in one run, plus the metric
calls' own cost timed in-process."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from functools import partial
from typing import Any

from common import (
    RAISED_LIMITS,
    add_client_arguments,
    bench_server,
    client_processes,
    exit_on_sigterm,
    load_average,
    pct,
    run_client,
)
from throughput import client_main, warm

# Every bench user comes from 127.0.0.1: the per-address limits would refuse most of them.
ONE_ADDRESS = {"KEFU_MAX_SOCKETS_PER_ADDRESS": "100000", "KEFU_RATE_ADDRESS_MESSAGES": "1000000/s"}
TARGET_SHARE = 0.02  # the metrics may take at most 2 % of the server's CPU per message
# Per answered message the server counts: the message, the answer (with its latency) and the
# database writes it makes (the message, the reply; a new conversation adds one).
WRITES_PER_MESSAGE = 2


def scraper(url: str, every: float, stop: threading.Event) -> None:
    """What Prometheus does to the server: a scrape every ``every`` seconds."""
    while not stop.wait(every):
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()


def one_run(args: argparse.Namespace, on: bool, seed: int) -> dict[str, Any]:
    limits = {**RAISED_LIMITS, **ONE_ADDRESS, "KEFU_METRICS": "true" if on else "false"}
    with bench_server(limits, demo_kb=True, tmp_dir=args.dir) as server:
        warm(server.chat_url)
        stop = threading.Event()
        scrapes = threading.Thread(
            target=scraper,
            args=(f"http://127.0.0.1:{server.port}/metrics", args.scrape_every, stop),
            daemon=True,
        )
        if on:
            scrapes.start()
        try:
            run = client_processes(
                __file__,
                server.chat_url,
                args.users,
                args.clients,
                start_at=time.monotonic() + args.setup,
                warmup=args.warmup,
                window=args.window,
                seed=seed,
                extra=["--interval", repr(1.0 / args.per_user_rate)],
                watch=[server.pid],
            )
        finally:
            stop.set()
            if on:
                scrapes.join(15)
    lat = [v for o in run.outs for v in o["lat"]]
    errors: Counter[str] = Counter()
    for o in run.outs:
        errors.update(o["errors"])
    (server_cpu,) = run.cpu
    return {
        "on": on,
        "answered": len(lat),
        "errors": dict(errors) or 0,
        "cpu_ms": server_cpu / max(len(lat), 1) * 1000,
        "p50": pct(lat, 0.50) * 1000,
        "p99": pct(lat, 0.99) * 1000,
        "load": run.load,
    }


def micro(n: int) -> dict[str, float]:
    """Thread CPU of the metric calls one answered message makes, in microseconds."""
    from bot import metrics

    class Plain:
        async def write(self, fn: Any) -> Any:
            return None

    def per_call(fn: Any) -> float:
        fn()  # warm
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        return (time.thread_time() - t0) / n * 1e6

    def hooks() -> None:
        metrics.message_received()
        metrics.answer_sent()

    metrics.configure(True)
    plain, metered = Plain(), Plain()
    metrics.meter_writes(metered)  # type: ignore[arg-type]  # the wrapper create_app installs
    loop = asyncio.new_event_loop()

    def write_of(db: Plain) -> Any:
        async def many() -> None:
            for _ in range(n):
                await db.write(None)

        def run() -> float:
            t0 = time.thread_time()
            loop.run_until_complete(many())
            return (time.thread_time() - t0) / n * 1e6

        return run

    try:
        write_plain = statistics.median(write_of(plain)() for _ in range(3))
        write_metered = statistics.median(write_of(metered)() for _ in range(3))
    finally:
        loop.close()
    hook = statistics.median(per_call(hooks) for _ in range(3))
    return {
        "hooks_us": hook,
        "write_us": max(0.0, write_metered - write_plain),
        "per_message_us": hook + WRITES_PER_MESSAGE * max(0.0, write_metered - write_plain),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_client_arguments(parser)
    parser.add_argument("--interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--per-user-rate", type=float, default=2.0, help="msg/s per user")
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs, ABBA order")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--setup", type=float, default=3.0, help="seconds to connect everyone")
    parser.add_argument("--scrape-every", type=float, default=5.0, help="seconds between scrapes")
    parser.add_argument("--dir", default=None, help="where the databases go (e.g. /dev/shm)")
    parser.add_argument("--calls", type=int, default=200_000, help="calls timed in-process")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.child:
        return run_client(partial(client_main, args))

    print(
        f"Metrics cost: {args.users} users x {args.per_user_rate:g} msg/s "
        f"({args.users * args.per_user_rate:,.0f} msg/s offered) on one `kefu serve` (SQLite "
        f"FULL, demo KB), metrics on (scraped every {args.scrape_every:g} s) and off, "
        f"{args.rounds} rounds in ABBA order, {args.window:g} s windows. {load_average()}"
    )
    rows: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for on in order:
                row = one_run(args, on, seed=r)
                rows.append(row)
                print(
                    f"  round {r + 1} metrics {'on ' if on else 'off'}: server CPU "
                    f"{row['cpu_ms']:.3f} ms/msg, answered {row['answered']:,}, errors "
                    f"{row['errors']}, p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms; "
                    f"{row['load']}"
                )
    except Exception as exc:
        print(f"  run failed: {type(exc).__name__}: {exc}")

    cost = micro(args.calls)
    print(
        f"\nIn-process, thread CPU: the message and answer hooks {cost['hooks_us']:.2f} µs, "
        f"a metered write +{cost['write_us']:.2f} µs; per answered message (hooks + "
        f"{WRITES_PER_MESSAGE} writes) {cost['per_message_us']:.2f} µs"
    )
    on_cpu = [r["cpu_ms"] for r in rows if r["on"] and r["answered"]]
    off_cpu = [r["cpu_ms"] for r in rows if not r["on"] and r["answered"]]
    if not on_cpu or not off_cpu:
        print(f"  target: metrics <= {TARGET_SHARE:.0%} of server CPU per message  FAIL (no run)")
        return 0
    on_m, off_m = statistics.median(on_cpu), statistics.median(off_cpu)
    share = cost["per_message_us"] / 1000 / off_m
    print(
        f"Server CPU per message, median: on {on_m:.3f} ms ({min(on_cpu):.3f}-{max(on_cpu):.3f}),"
        f" off {off_m:.3f} ms ({min(off_cpu):.3f}-{max(off_cpu):.3f}); on - off "
        f"{(on_m - off_m) * 1000:+.0f} µs ({(on_m - off_m) / off_m:+.1%}); the off runs alone "
        f"spread over {(max(off_cpu) - min(off_cpu)) / off_m:.0%}"
    )
    verdict = "PASS" if share <= TARGET_SHARE else "FAIL"
    print(
        f"  target: metrics <= {TARGET_SHARE:.0%} of server CPU per message: the metric calls "
        f"take {share:.2%} of it  {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
