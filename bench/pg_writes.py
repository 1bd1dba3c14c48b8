"""Durable writes per second on PostgreSQL: the group commit (one thread) against a pool of
writer threads (a transaction each), side by side in one run, as ``kefu serve`` makes them:
a new conversation with its first message per write, ``--inflight`` writes kept in flight."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from common import busy_cpu_seconds, first_message_load, load_figures

PG_URL = os.environ.get("KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def one_run(n: int, inflight: int, threads: int) -> dict[str, Any]:
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

    from core.db.engine import Database
    from testkit.databases import postgres_schema

    with postgres_schema(PG_URL) as url:
        db = Database(url, write_threads=threads, pool_size=max(8, threads))
        try:
            db.migrate()
            speakers, op = first_message_load(db, n)

            async def drive() -> None:
                pending = iter(speakers)

                async def worker() -> None:
                    for who in pending:
                        await db.write(op(who))

                await asyncio.gather(*(worker() for _ in range(min(inflight, n))))

            asyncio.run(db.write(lambda session: None))  # warm the connections
            cpu0, busy0 = time.process_time(), busy_cpu_seconds()
            t0 = time.perf_counter()
            asyncio.run(drive())
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            busy = busy_cpu_seconds() - busy0
        finally:
            db.close()
    return {"rate": n / elapsed, "cpu_ms": cpu / n * 1000, "busy_ms": busy / n * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=3000, help="writes per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--threads", default="0,2,4,8", help="0 = the group commit")
    args = parser.parse_args()
    variants = [int(t) for t in args.threads.split(",")]
    print(f"PostgreSQL writes, {args.n} per run, {args.inflight} in flight; {load_figures()}")
    results: dict[int, list[dict[str, Any]]] = {t: [] for t in variants}
    for _ in range(args.runs):  # interleaved, so that the machine's load hits every variant
        for t in variants:
            results[t].append(one_run(args.n, args.inflight, t))
    for t in variants:
        name = "group commit (1 thread)" if t == 0 else f"pool of {t} writer threads"
        rates = [r["rate"] for r in results[t]]
        cpu = statistics.median(r["cpu_ms"] for r in results[t])
        busy = statistics.median(r["busy_ms"] for r in results[t])
        print(
            f"  {name:26} median {statistics.median(rates):7,.0f}/s"
            f"  (min {min(rates):,.0f}, max {max(rates):,.0f});"
            f" CPU per write: this process {cpu:.2f} ms, machine {busy:.2f} ms"
        )
    print(f"after: {load_figures()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
