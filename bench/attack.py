"""A hostile visitor beside an honest licensee: that licensee's answer latency with and without
each attack of issue 11 (items 1, 4 and 5), in one run against one `kefu serve`.

Two licensees on one server, both under the default limits (the attacker uses the public site
key with the page's ``Origin``, as anyone can). The honest one has the demo knowledge base; its
visitors each ask a question, wait for the answer (``reply.end``) and ask the next at a visitor's
pace within the default per-visitor limit; the time from sending to the answer is its latency.
The attacker has 3,000 entries and, phase by phase:

1. huge-history hellos: 20 loops that connect and say ``hello`` again and again with the token of
   a visitor whose conversation holds 5,000 messages (made before the measured server starts,
   by a server with the limits and the conversation cap raised, i.e. a conversation from before
   the caps);
4. lone-surrogate senders: 60 sockets sending messages whose text holds ``"\\ud800"`` as fast as
   the server answers them, reconnecting whenever they are closed;
5. long-question floods: 2,000-character questions at 165 a second from 90 visitors, each within
   the default per-visitor limit (20 in 10 s) and all within the key's (3,000 in 10 s).

Every client socket has its own loopback source address (127.0.x.y), as visitors from many
places would, so the per-address limits do not cut the attack below its stated size. The attack
runs in a separate client process at the lowest CPU priority (``nice 19``): on a 2-core machine
its own client work would otherwise be counted as the server's. The honest client runs in this
process at normal priority; the server is not pinned. The attack starts a second before the
honest visitors and is measured while they run. The server may refuse any of it (an error frame,
a close, a refused handshake): the attacker only keeps it coming, and what it achieved is
printed beside the verdict: under each attack the honest p99 is at most twice its p99 without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import (
    DEMO_KB,
    ORIGIN,
    RAISED_LIMITS,
    die_with_parent,
    free_port,
    load_figures,
    pct,
    questions,
    run_kefu,
    scrape,
    server_env,
    stalls,
    start_server,
    stop_server,
)
from retrieval_speed import cpu_model

ALLOWED_RATIO = 2.0
N_ATTACK_ENTRIES = 3_000
LONG_CHARS = 2_000
LONG_VISITORS = 90
LONG_PER_ADDRESS = 10  # 18 long questions a second per address, under its 30
HONEST_PACE = 0.6  # seconds between one honest visitor's questions: under 20 in 10 s
WARM_UP = 1.0  # seconds the attack runs before the honest visitors start
WARM_UP_MIN = 30.0  # seconds of warm-up at least: the sentence encoder loads in the background
PHASES = "0,1,4,5,0"
TITLES = {
    "0": "no attack",
    "1": "1: huge-history hellos",
    "4": "4: lone-surrogate senders",
    "5": "5: long-question flood",
}
WORDS = [
    "order", "parcel", "refund", "invoice", "account", "password", "delivery", "coupon",
    "member", "points", "payment", "card", "address", "phone", "warranty", "return", "exchange",
    "shipping", "balance", "store", "install", "cancel", "change", "track", "late", "broken",
    "missing", "charged", "twice", "update", "verify", "login", "reset", "limit", "fee", "gift",
    "voucher",
]  # fmt: skip


def attacker_kb(path: Path, rng: random.Random) -> None:
    entries = [
        {
            "question": " ".join(rng.choices(WORDS, k=8)) + f" {i}?",
            "answer": f"Answer {i}.",
            "similar": [" ".join(rng.choices(WORDS, k=7)), " ".join(rng.choices(WORDS, k=9))],
        }
        for i in range(N_ATTACK_ENTRIES)
    ]
    path.write_text(json.dumps(entries), encoding="utf-8")


def long_text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=LONG_CHARS // 5))[:LONG_CHARS]


def address(block: int, n: int) -> str:
    """The ``n``-th loopback source address of ``block`` (1: honest, 2 on: the attacks)."""
    return f"127.0.{block}.{n % 250 + 1}"


async def connect(url: str, source: str) -> Any:
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(
        url,
        origin=ORIGIN,
        compression=None,
        max_size=None,
        open_timeout=30,
        close_timeout=1,
        ping_interval=None,
        local_addr=(source, 0),
    )


async def hello(ws: Any, visitor: str | None) -> dict[str, Any]:
    """The welcome, or the error frame (a refused hello)."""
    await ws.send(json.dumps({"type": "hello", "visitor": visitor, "locale": "en"}))
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame["type"] in ("welcome", "error"):
            return frame


async def ask(ws: Any, mid: str, text: str, wait: float = 60) -> dict[str, Any]:
    """Send a message and wait for its answer's end or its error frame."""
    await ws.send(json.dumps({"type": "message", "id": mid, "text": text}))
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] in ("reply.end", "error"):
            return frame


# ---------------------------------------------------------------- the honest licensee


async def honest(
    url: str, source: str, stop: float, latencies: list[float], rng: random.Random
) -> None:
    qs = [q for q, _ in questions()]
    ws = await connect(url, source)
    try:
        await hello(ws, None)
        await asyncio.sleep(rng.random() * HONEST_PACE)  # the visitors out of step
        n = 0
        while time.monotonic() < stop:
            n += 1
            t0 = time.perf_counter()
            frame = await ask(ws, f"h{n}-{rng.random()}", rng.choice(qs))
            if frame["type"] != "reply.end":
                raise RuntimeError(f"the honest visitor was refused: {frame}")
            latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(max(0.0, HONEST_PACE - (time.perf_counter() - t0)))
    finally:
        await ws.close()


async def honest_phase(url: str, seconds: float, visitors: int) -> list[float]:
    rng = random.Random(7)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    await asyncio.gather(
        *(honest(url, address(1, i), stop, latencies, rng) for i in range(visitors))
    )
    return sorted(latencies)


# ---------------------------------------------------------------- the attacker (child process)


def outcome(counts: Counter[str], exc: BaseException) -> None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    rcvd = getattr(exc, "rcvd", None)
    if status is not None:
        counts[f"handshake {status}"] += 1
    elif rcvd is not None:
        counts[f"closed {rcvd.code}"] += 1
    else:
        counts[type(exc).__name__] += 1


async def forever(stop: float, counts: Counter[str], step: Callable[[], Awaitable[None]]) -> None:
    """``step`` again and again until ``stop``; whatever the server does to it is counted."""
    while time.monotonic() < stop:
        try:
            await step()
        except Exception as exc:
            outcome(counts, exc)
            await asyncio.sleep(0.01)


async def huge_history(
    url: str, source: str, token: str, stop: float, counts: Counter[str]
) -> None:
    async def step() -> None:
        ws = await connect(url, source)
        try:
            frame = await hello(ws, token)
            counts["hello " + (frame["type"] if frame["type"] == "welcome" else frame["code"])] += 1
        finally:
            await ws.close()

    await forever(stop, counts, step)


async def surrogates(url: str, source: str, stop: float, counts: Counter[str]) -> None:
    async def step() -> None:
        ws = await connect(url, source)
        try:
            frame = await hello(ws, None)
            if frame["type"] != "welcome":
                counts["hello " + frame["code"]] += 1
                return
            while time.monotonic() < stop:
                # json.dumps escapes it as \ud800: valid JSON, text no UTF-8 can hold.
                answer = await ask(ws, f"s{random.random()}", "\ud800 where is my parcel", 30)
                counts["message " + answer.get("code", answer["type"])] += 1
        finally:
            await ws.close()

    await forever(stop, counts, step)


async def long_flood(
    url: str, source: str, stop: float, counts: Counter[str], rng: random.Random, interval: float
) -> None:
    """One visitor asking a long question every ``interval`` seconds (or as soon as answered)."""

    async def step() -> None:
        ws = await connect(url, source)
        try:
            frame = await hello(ws, None)
            if frame["type"] != "welcome":
                counts["hello " + frame["code"]] += 1
                return
            await asyncio.sleep(rng.random() * interval)  # the visitors out of step
            while time.monotonic() < stop:
                t0 = time.monotonic()
                answer = await ask(ws, f"l{rng.random()}", long_text(rng), wait=60)
                counts["message " + answer.get("code", answer["type"])] += 1
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))
        finally:
            await ws.close()

    await forever(stop, counts, step)


async def attack(
    which: str, url: str, token: str, seconds: float, sockets: int, long_rate: float
) -> dict[str, int]:
    rng = random.Random(11)
    stop = time.monotonic() + seconds
    counts: Counter[str] = Counter()
    if which == "1":
        tasks = [huge_history(url, address(2, i), token, stop, counts) for i in range(sockets)]
    elif which == "4":
        tasks = [surrogates(url, address(3, i), stop, counts) for i in range(3 * sockets)]
    else:
        interval = LONG_VISITORS / long_rate
        tasks = [
            long_flood(url, address(4, i // LONG_PER_ADDRESS), stop, counts, rng, interval)
            for i in range(LONG_VISITORS)
        ]
    await asyncio.gather(*tasks)
    return dict(counts)


def attacker_main(args: argparse.Namespace) -> int:
    os.nice(19)  # the server's cost is measured, not this client's
    gc.disable()
    counts = asyncio.run(
        attack(args.child, args.url, args.token, args.seconds, args.sockets, args.long_rate)
    )
    print(json.dumps(counts))
    return 0


def start_attack(
    which: str, url: str, token: str, args: argparse.Namespace
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            which,
            "--url",
            url,
            "--token",
            token,
            "--seconds",
            str(args.seconds + WARM_UP),
            "--sockets",
            str(args.sockets),
            "--long-rate",
            str(args.long_rate),
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )


# ---------------------------------------------------------------- set-up and the run


async def build_history(url: str, questions_n: int) -> tuple[str, int]:
    """A visitor whose conversation holds ``questions_n`` questions and their answers; its token
    and how many questions were answered."""
    ws = await connect(url, "127.0.0.1")
    answered = 0
    try:
        token = (await hello(ws, None))["visitor"]
        text = "Where is my parcel? " * 20
        window = 50  # in flight at once
        sent = 0
        pending = 0
        while sent < questions_n or pending:
            while sent < questions_n and pending < window:
                await ws.send(json.dumps({"type": "message", "id": f"m{sent}", "text": text}))
                sent += 1
                pending += 1
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if frame["type"] == "reply.end":
                answered += 1
            if frame["type"] in ("reply.end", "error"):
                pending -= 1
    finally:
        await ws.close()
    return str(token), answered


async def measure(
    url: str, args: argparse.Namespace, which: str, token: str, attack_url: str
) -> dict[str, Any]:
    child = None if which == "0" else start_attack(which, attack_url, token, args)
    try:
        if child is not None:
            await asyncio.sleep(WARM_UP)
        latencies = await honest_phase(url, args.seconds, args.visitors)
        counts: dict[str, int] = {}
        if child is not None:
            out, _ = await asyncio.to_thread(child.communicate, timeout=120)
            counts = json.loads(out)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
    return {
        "name": TITLES.get(which, which),
        "attacked": child is not None,
        "answers": len(latencies),
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "counts": counts,
    }


async def warm_up(honest_url: str, attack_url: str, pid: int) -> None:
    """Ask both licensees until the server is idle between questions: the first questions build
    the indexes, lexical first and again with the sentence encoder once it has loaded in the
    background (many seconds of CPU for the attacker's 3,000 entries, once per knowledge base
    version). At least ``WARM_UP_MIN`` seconds, then three idle seconds in a row."""
    started = time.monotonic()
    idle = 0
    for n in range(1_000):
        cpu0 = sum(thread_cpu(pid).values())
        for url in (honest_url, attack_url):
            ws = await connect(url, "127.0.0.1")
            try:
                await hello(ws, None)
                await ask(ws, f"warm-up{n}", "where is my parcel", wait=300)
            finally:
                await ws.close()
        await asyncio.sleep(1.0)
        idle = idle + 1 if sum(thread_cpu(pid).values()) - cpu0 < 0.2 else 0
        waited = time.monotonic() - started
        if (idle >= 3 and waited >= WARM_UP_MIN) or waited > 300:
            return


def thread_cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) of each thread of ``pid`` by (id, name), from /proc."""
    out: dict[tuple[int, str], float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as fh:
                name, _, rest = fh.read().partition("(")[2].rpartition(")")
            fields = rest.split()
            key = (int(tid), name)
            out[key] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def cpu_split(
    before: dict[tuple[int, str], float], after: dict[tuple[int, str], float], main: int
) -> str:
    """The server's CPU seconds in a phase: its event loop's thread, and its other threads (work
    pool, database writer and readers; Python does not name them to the system)."""
    loop = others = 0.0
    for (tid, name), cpu in after.items():
        spent = cpu - before.get((tid, name), 0.0)
        if tid == main:
            loop = spent
        else:
            others += spent
    return f"loop {loop:.1f} s + threads {others:.1f} s"


def parse_variant(text: str) -> dict[str, str]:
    pairs = [p.partition("=") for p in text.split(",") if p.strip()]
    return {k.strip(): v.strip() for k, _, v in pairs}


def describe(counts: dict[str, int], seconds: float) -> str:
    if not counts:
        return ""
    return ", ".join(f"{k} {v} ({v / seconds:.0f}/s)" for k, v in sorted(counts.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--visitors", type=int, default=20, help="honest visitors")
    parser.add_argument("--sockets", type=int, default=20, help="attack sockets (x3 for item 4)")
    parser.add_argument("--history", type=int, default=2_500, help="questions of the long history")
    parser.add_argument("--long-rate", type=float, default=165.0, help="long questions a second")
    parser.add_argument(
        "--phases", default=PHASES, help="comma-separated, in order: 0 (no attack), 1, 4, 5"
    )
    parser.add_argument(
        "--variants",
        default="",
        help="server settings to compare in one run, ';' between variants, ',' between "
        "settings: e.g. 'KEFU_WORK_SHARE=1;KEFU_WORK_SHARE=0.5'",
    )
    parser.add_argument(
        "--dir", help="where the database goes (a tmpfs keeps the disk's fsyncs out of it)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return attacker_main(args)
    rng = random.Random(3)
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="kefu-bench-", dir=args.dir) as tmp:
        env = server_env(tmp)  # the default limits
        ids = {}
        for name in ("Honest", "Attacker"):
            create = ["licensee", "create", "--name", name, "--origin", ORIGIN, "--json"]
            ids[name] = json.loads(run_kefu(env, create, timeout=60))
        run_kefu(env, ["kb", "import", "--licensee", ids["Honest"]["id"], str(DEMO_KB)], 120)
        kb = Path(tmp) / "attacker.json"
        attacker_kb(kb, rng)
        run_kefu(env, ["kb", "import", "--licensee", ids["Attacker"]["id"], str(kb)], 120)
        port = free_port()
        url = f"ws://127.0.0.1:{port}/v1/chat?key="
        honest_url, attack_url = url + ids["Honest"]["site_key"], url + ids["Attacker"]["site_key"]
        # The long conversation, made as it could have been before the caps.
        setup = {
            **env,
            **RAISED_LIMITS,
            "KEFU_RATE_ADDRESS_MESSAGES": "1000000/s",
            "KEFU_MAX_CONVERSATION_MESSAGES": "100000",
        }
        proc = start_server(setup, port)
        try:
            token, answered = asyncio.run(build_history(attack_url, args.history))
        finally:
            stop_server(proc)
        print(
            f"huge-history visitor: {answered} questions of 400 characters answered "
            f"({2 * answered} messages in one conversation)",
            flush=True,
        )
        gc.disable()  # this client's collector pauses would count as the server's latency
        variants = [parse_variant(v) for v in args.variants.split(";")] if args.variants else [{}]
        for variant in variants:
            name = ",".join(f"{k}={v}" for k, v in variant.items()) or "as configured"
            print(f"server settings: {name}", flush=True)
            proc = start_server({**env, **variant}, port)
            results = []
            try:
                # Unmeasured: the first questions build both licensees' indexes (the attacker's,
                # with the sentence encoder, takes many seconds once per knowledge base version).
                asyncio.run(warm_up(honest_url, attack_url, proc.pid))
                asyncio.run(honest_phase(honest_url, 3.0, args.visitors))
                for which in args.phases.split(","):
                    cpu0, seen0 = thread_cpu(proc.pid), scrape(port)
                    r = asyncio.run(measure(honest_url, args, which, token, attack_url))
                    r["cpu"] = cpu_split(cpu0, thread_cpu(proc.pid), proc.pid)
                    r["stalls"] = stalls(seen0, scrape(port))
                    print(
                        f"{r['name']}: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, server CPU "
                        f"{r['cpu']} (load average {load_figures()})\n  {r['stalls']}",
                        flush=True,
                    )
                    results.append(r)
            finally:
                stop_server(proc)
            tables.append((name, results))
    print(f"\nmachine: {os.cpu_count()} cores, {cpu_model()}, Python {sys.version.split()[0]}")
    print(
        f"honest licensee: {args.visitors} visitors, one question every {HONEST_PACE} s each; "
        f"phases of {args.seconds:.0f} s; {args.sockets} attack sockets (x3 for item 4); long "
        f"questions at {args.long_rate:.0f}/s from {LONG_VISITORS} visitors; default limits"
    )
    ok = True
    for name, results in tables:
        print(f"\nserver settings: {name}\n")
        print(
            "| phase | honest answers | p50 ms | p99 ms | p99 / without | server CPU "
            "| what the attack got |"
        )
        print("|---|---:|---:|---:|---:|---|---|")
        base = results[0]["p99"]
        for r in results:
            ratio = r["p99"] / base
            ok = ok and (not r["attacked"] or ratio <= ALLOWED_RATIO)
            print(
                f"| {r['name']} | {r['answers']} | {r['p50']:.1f} | {r['p99']:.1f} | {ratio:.2f}x"
                f" | {r['cpu']} | {describe(r['counts'], args.seconds + WARM_UP)} |"
            )
    print(f"\nload average at the end: {load_figures()}")
    verdict = "PASS" if ok else "FAIL"
    print(f"each attack costs the honest licensee at most {ALLOWED_RATIO}x its p99: {verdict}")
    return 0  # like the other benches: the verdict is printed, the exit status stays 0


if __name__ == "__main__":
    raise SystemExit(main())
