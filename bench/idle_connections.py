"""Server memory (RSS) per idle widget connection: 10,000 sockets after hello/welcome."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import select
import statistics
import subprocess
import sys
import time
from typing import Any

from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    bench_server,
    die_with_parent,
    exit_on_sigterm,
    has_builtin_answerer,
    kill_all,
    load_average,
    open_fds,
    proc_cpu_seconds,
    rss_kib,
    shares,
    spawn_child,
)

TARGET_KIB = 48.0  # per idle connection
TIME_LIMIT_S = 300.0  # one run, start-up to clean-up (the whole bench: runs x this)
# Rate limits raised: 10,000 new visitors on one site key within a minute or two.
LIMITS = {k: v for k, v in RAISED_LIMITS.items() if k != "KEFU_RATE_VISITOR_MESSAGES"}


def settled_rss(pid: int, limit: float = 20.0) -> int:
    """RSS once it stops moving (three readings 0.5 s apart within 256 KiB), or after limit."""
    deadline = time.monotonic() + limit
    readings = [rss_kib(pid)]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        readings.append(rss_kib(pid))
        last = readings[-3:]
        if len(last) == 3 and max(last) - min(last) <= 256:
            break
    return readings[-1]


def server_preexec() -> None:
    raise_nofile()
    die_with_parent()


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- client process


async def hold(args: argparse.Namespace) -> None:
    """Open ``args.conns`` widget connections, say hello, report, hold until told to stop."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(args.concurrency)
    conns: list[Any] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + args.hold_limit

    async def one(i: int) -> None:
        async with gate:
            try:
                ws = await connect(
                    args.url,
                    origin=ORIGIN,
                    compression=None,
                    open_timeout=60,
                    close_timeout=2,
                    ping_interval=None,  # the server pings; the client answers on its own
                    local_addr=(args.source, 0),
                )
                await ws.send(HELLO)
                frame = await asyncio.wait_for(ws.recv(), 60)
                if '"welcome"' not in frame:
                    raise RuntimeError("no welcome")
                conns.append(ws)
            except Exception as exc:
                name = type(exc).__name__
                errors[name] = errors.get(name, 0) + 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.conns)))
    print(
        json.dumps({"open": len(conns), "errors": errors, "seconds": time.monotonic() - t0}),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(1.0, deadline - time.monotonic()))
    closing = asyncio.Semaphore(500)

    async def bye(ws: Any) -> None:
        async with closing:
            with contextlib.suppress(Exception):  # the server may already be gone
                await ws.close()

    await asyncio.gather(*(bye(ws) for ws in conns))


def run_client(args: argparse.Namespace) -> int:
    raise_nofile()
    try:
        import uvloop

        uvloop.run(hold(args))
    except ImportError:
        asyncio.run(hold(args))
    return 0


# ---------------------------------------------------------------- orchestration


def spawn_clients(
    url: str, total: int, procs: int, concurrency: int, hold_limit: float
) -> list[subprocess.Popen[str]]:
    clients = []
    for i, n in enumerate(shares(total, procs)):
        clients.append(
            spawn_child(
                __file__,
                [
                    "--url",
                    url,
                    "--conns",
                    str(n),
                    "--concurrency",
                    str(concurrency),
                    "--source",
                    f"127.0.0.{2 + i}",  # a source address each: ephemeral ports never run short
                    "--hold-limit",
                    repr(hold_limit),
                ],
                stdin=True,
            )
        )
    return clients


def wait_ready(clients: list[subprocess.Popen[str]], limit: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + limit
    reports: list[dict[str, Any]] = []
    for client in clients:
        assert client.stdout is not None
        left = deadline - time.monotonic()
        ready, _, _ = select.select([client.stdout], [], [], max(0.0, left))
        if not ready:
            raise TimeoutError("client processes did not finish connecting in time")
        line = client.stdout.readline()
        if not line:
            raise RuntimeError(f"a client process exited early ({client.wait()})")
        reports.append(json.loads(line))
    return reports


def release(clients: list[subprocess.Popen[str]], limit: float = 60.0) -> None:
    for client in clients:
        if client.stdin is not None and client.poll() is None:
            try:
                client.stdin.write("stop\n")
                client.stdin.close()
            except OSError:
                pass
    deadline = time.monotonic() + limit
    for client in clients:
        try:
            client.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--source", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--hold-limit", type=float, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=int, default=10_000, help="idle connections to hold")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight/proc")
    parser.add_argument("--warm", type=int, default=200, help="warm-up connections")
    parser.add_argument("--runs", type=int, default=3, help="runs, each on a fresh server")
    parser.add_argument(
        "--no-second-wave",
        dest="second_wave",
        action="store_false",
        help="skip re-opening the same number after the close in run 1 (the leak check)",
    )
    args = parser.parse_args()
    exit_on_sigterm()
    if args.child:
        return run_client(args)
    if not has_builtin_answerer():
        print("Idle connections: skipped, the built-in answerer is not there yet")
        print(f"  target <= {TARGET_KIB:.0f} KiB per connection  FAIL (not measured)")
        return 0

    raise_nofile()
    print(
        f"Idle connections: {args.conns:,} widget sockets (open + hello + welcome) on one "
        f"`kefu serve`, {args.clients} client processes; target <= {TARGET_KIB:.0f} KiB each"
    )
    rows = []
    for run in range(1, args.runs + 1):
        print(f"run {run}:")
        try:
            rows.append(measure(args, leak_check=args.second_wave and run == 1))
        except Exception as exc:
            print(f"  run failed: {type(exc).__name__}: {exc}")
    if not rows:
        print(f"\nSummary: not measured; target <= {TARGET_KIB:.0f} KiB  FAIL")
        return 0
    per = [r["per_conn"] for r in rows]
    for i, r in enumerate(rows, 1):
        print(
            f"  run {i}: {r['per_conn']:.1f} KiB per idle connection "
            f"(({r['full']:,} - {r['empty']:,}) KiB / {r['opened']:,})"
        )
    complete = len(rows) == args.runs and all(r["opened"] >= args.conns for r in rows)
    verdict = complete and statistics.median(per) <= TARGET_KIB and max(per) <= TARGET_KIB
    print(
        f"\nSummary: KiB per idle connection over {len(rows)} runs: median "
        f"{statistics.median(per):.1f}, min {min(per):.1f}, max {max(per):.1f}; target <= "
        f"{TARGET_KIB:.0f} KiB  {'PASS' if verdict else 'FAIL'}"
        + ("" if complete else " (not every run opened every connection)")
    )
    return 0


def measure(args: argparse.Namespace, leak_check: bool) -> dict[str, Any]:
    t_start = time.monotonic()
    clients: list[subprocess.Popen[str]] = []
    with bench_server(LIMITS, demo_kb=True, preexec=server_preexec) as server:
        try:
            pid = server.pid
            url = server.chat_url
            started = settled_rss(pid)
            print(f"  RSS after start-up: {started / 1024:.1f} MiB ({load_average()})")
            # Warm-up: pools, worker threads and lazy imports that the first sockets bring.
            clients = spawn_clients(url, args.warm, 1, args.concurrency, 60)
            wait_ready(clients, 60)
            release(clients)
            clients = []
            empty = settled_rss(pid)
            print(f"  RSS empty after {args.warm} warm-up connections: {empty / 1024:.1f} MiB")

            cpu0 = proc_cpu_seconds(pid)
            t0 = time.monotonic()
            budget = TIME_LIMIT_S - (t0 - t_start) - 90
            clients = spawn_clients(url, args.conns, args.clients, args.concurrency, budget + 30)
            reports = wait_ready(clients, budget)
            opened = sum(r["open"] for r in reports)
            errors: dict[str, int] = {}
            for r in reports:
                for k, v in r["errors"].items():
                    errors[k] = errors.get(k, 0) + v
            connect_s = time.monotonic() - t0
            handshake_cpu = proc_cpu_seconds(pid) - cpu0
            full = settled_rss(pid)
            fds = open_fds(pid)
            print(
                f"  opened {opened:,} of {args.conns:,} in {connect_s:.1f} s "
                f"(errors {errors or 0}); server fds {fds:,}; server CPU "
                f"{handshake_cpu / max(opened, 1) * 1000:.2f} ms per connection set-up"
            )
            print(f"  RSS with {opened:,} open: {full / 1024:.1f} MiB ({load_average()})")
            release(clients)
            clients = []
            after = settled_rss(pid)
            print(f"  RSS after they all closed: {after / 1024:.1f} MiB")
            if leak_check:
                # Memory kept after the close is either the allocator's or a leak: a second
                # wave of the same size tells them apart (a leak grows again by as much).
                budget = TIME_LIMIT_S - (time.monotonic() - t_start) - 60
                clients = spawn_clients(url, opened, args.clients, args.concurrency, budget + 30)
                again = sum(r["open"] for r in wait_ready(clients, budget))
                second = settled_rss(pid)
                release(clients)
                clients = []
                print(
                    f"  RSS with a second wave of {again:,} open: {second / 1024:.1f} MiB "
                    f"({(second - full) / max(again, 1):+.1f} KiB per connection vs the first)"
                )
        finally:
            kill_all(clients)
    per_conn = (full - empty) / max(opened, 1)
    return {"opened": opened, "full": full, "empty": empty, "after": after, "per_conn": per_conn}


if __name__ == "__main__":
    sys.exit(main())
