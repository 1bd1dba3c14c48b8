"""A hostile visitor beside an honest licensee: that licensee's answer latency with and without
each attack of issue 11 (items 1, 4 and 5), in one run against one `kefu serve`.

Two licensees on one server. The honest one has the demo knowledge base; its visitors each ask a
question, wait for the answer (``reply.end``) and ask the next, and the time from sending to the
answer is its latency. The attacker has 3,000 entries and, phase by phase:

1. huge-history hellos: sockets that say ``hello`` again and again with the token of a visitor
   whose conversation holds thousands of messages (made before the first phase);
4. lone-surrogate senders: sockets sending messages whose text is ``"\\ud800"`` as fast as the
   server answers them (any answer, an error frame too);
5. long-question floods: 2,000-character questions at 165 a second (the rate the review found
   fills the event loop), from 90 visitors so that each stays within the default per-visitor
   limit (20 in 10 s) and all within the key's (3,000 in 10 s).

The server may refuse any of it (an error frame, a close): the bench only keeps it coming. The
verdict: under each attack the honest p99 is at most twice its p99 without attack.
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
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import (
    DEMO_KB,
    ORIGIN,
    RAISED_LIMITS,
    free_port,
    load_figures,
    pct,
    questions,
    run_kefu,
    server_env,
    start_server,
    stop_server,
)
from retrieval_speed import cpu_model

ALLOWED_RATIO = 2.0
N_ATTACK_ENTRIES = 3_000
LONG_CHARS = 2_000
LONG_VISITORS = 90
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


async def connect(url: str) -> Any:
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(
        url, origin=ORIGIN, max_size=None, open_timeout=30, close_timeout=1, ping_interval=None
    )


async def hello(ws: Any, visitor: str | None) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "visitor": visitor, "locale": "en"}))
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame["type"] == "welcome":
            return frame


async def ask(ws: Any, mid: str, text: str, wait: float = 60) -> None:
    """Send a message and wait for its answer (or an error, or the ack of an agent-held one)."""
    await ws.send(json.dumps({"type": "message", "id": mid, "text": text}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] in ("reply.end", "error"):
            return


async def honest(url: str, stop: float, latencies: list[float], rng: random.Random) -> None:
    qs = [q for q, _ in questions()]
    ws = await connect(url)
    try:
        await hello(ws, None)
        n = 0
        while time.monotonic() < stop:
            n += 1
            t0 = time.perf_counter()
            await ask(ws, f"h{n}-{rng.random()}", rng.choice(qs))
            latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.05)  # a human's pace, many of them
    finally:
        await ws.close()


async def forever(stop: float, errors: Counter[str], step: Callable[[], Awaitable[None]]) -> None:
    """``step`` again and again until ``stop``; whatever the server does to it is counted."""
    while time.monotonic() < stop:
        try:
            await step()
        except Exception as exc:
            errors[type(exc).__name__] += 1
            await asyncio.sleep(0.01)


async def huge_history(url: str, token: str, stop: float, errors: Counter[str]) -> None:
    async def step() -> None:
        ws = await connect(url)
        try:
            await hello(ws, token)
        finally:
            await ws.close()

    await forever(stop, errors, step)


async def surrogates(url: str, stop: float, errors: Counter[str]) -> None:
    async def step() -> None:
        ws = await connect(url)
        try:
            await hello(ws, None)
            while time.monotonic() < stop:
                # json.dumps escapes it as \ud800: valid JSON, text no UTF-8 can hold.
                await ask(ws, f"s{random.random()}", "\ud800 where is my parcel", wait=30)
        finally:
            await ws.close()

    await forever(stop, errors, step)


async def long_flood(
    url: str, stop: float, errors: Counter[str], rng: random.Random, interval: float
) -> None:
    """One visitor asking a long question every ``interval`` seconds (or as soon as answered)."""

    async def step() -> None:
        ws = await connect(url)
        try:
            await hello(ws, None)
            await asyncio.sleep(rng.random() * interval)  # the visitors out of step
            while time.monotonic() < stop:
                t0 = time.monotonic()
                await ask(ws, f"l{rng.random()}", long_text(rng), wait=60)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))
        finally:
            await ws.close()

    await forever(stop, errors, step)


async def build_history(url: str, messages: int) -> tuple[str, int]:
    """A visitor whose conversation holds up to ``messages`` questions and their answers; its
    token and how many were accepted."""
    ws = await connect(url)
    accepted = 0
    try:
        token = (await hello(ws, None))["visitor"]
        text = "Where is my parcel? " * 20
        for i in range(messages):
            await ws.send(json.dumps({"type": "message", "id": f"m{i}", "text": text}))
        pending = messages
        while pending:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if frame["type"] == "ack":
                accepted += 1
            if frame["type"] in ("reply.end", "error"):
                pending -= 1
    except Exception:
        pass  # the server may stop such a conversation: what it holds is the attack
    finally:
        await ws.close()
    return str(token), accepted


async def phase(
    name: str,
    honest_url: str,
    seconds: float,
    visitors: int,
    attack: Callable[[float, Counter[str]], list[Awaitable[None]]] | None,
) -> dict[str, Any]:
    rng = random.Random(7)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    tasks: list[Awaitable[None]] = [
        honest(honest_url, stop, latencies, rng) for _ in range(visitors)
    ]
    if attack is not None:
        tasks += attack(stop, errors)
    await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "name": name,
        "answers": len(latencies),
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "errors": dict(errors),
    }


async def run(
    honest_url: str,
    attack_url: str,
    seconds: float,
    visitors: int,
    sockets: int,
    history: int,
    long_rate: float,
) -> list[dict[str, Any]]:
    rng = random.Random(11)
    token, accepted = await build_history(attack_url, history)
    print(f"huge-history visitor: {accepted} of {history} messages of 400 characters accepted")
    attacks: list[tuple[str, Callable[[float, Counter[str]], list[Awaitable[None]]] | None]] = [
        ("no attack", None),
        (
            "1: huge-history hellos",
            lambda stop, e: [huge_history(attack_url, token, stop, e) for _ in range(sockets)],
        ),
        (
            "4: lone-surrogate senders",
            lambda stop, e: [surrogates(attack_url, stop, e) for _ in range(3 * sockets)],
        ),
        (
            "5: long-question flood",
            lambda stop, e: [
                long_flood(attack_url, stop, e, rng, LONG_VISITORS / long_rate)
                for _ in range(LONG_VISITORS)
            ],
        ),
        ("no attack, again", None),
    ]
    return [await phase(n, honest_url, seconds, visitors, a) for n, a in attacks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--visitors", type=int, default=20, help="honest visitors")
    parser.add_argument("--sockets", type=int, default=20, help="attack sockets (x3 for item 4)")
    parser.add_argument("--history", type=int, default=2_000, help="messages of the long history")
    parser.add_argument("--long-rate", type=float, default=165.0, help="long questions a second")
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
        env = server_env(tmp, RAISED_LIMITS)
        ids = {}
        for name in ("Honest", "Attacker"):
            create = ["licensee", "create", "--name", name, "--origin", ORIGIN, "--json"]
            ids[name] = json.loads(run_kefu(env, create, timeout=60))
        run_kefu(env, ["kb", "import", "--licensee", ids["Honest"]["id"], str(DEMO_KB)], 120)
        kb = Path(tmp) / "attacker.json"
        attacker_kb(kb, rng)
        run_kefu(env, ["kb", "import", "--licensee", ids["Attacker"]["id"], str(kb)], 120)
        port = free_port()
        proc = start_server(env, port)
        try:
            url = f"ws://127.0.0.1:{port}/v1/chat?key="
            results = asyncio.run(
                run(
                    url + ids["Honest"]["site_key"],
                    url + ids["Attacker"]["site_key"],
                    args.seconds,
                    args.visitors,
                    args.sockets,
                    args.history,
                    args.long_rate,
                )
            )
        finally:
            stop_server(proc)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {sys.version.split()[0]}")
    print(
        f"honest licensee: {args.visitors} visitors asking demo questions; phases of "
        f"{args.seconds:.0f} s; {args.sockets} attack sockets (x3 for item 4); long questions at "
        f"{args.long_rate:.0f}/s from {LONG_VISITORS} visitors\n"
    )
    print("| phase | honest answers | p50 ms | p99 ms | p99 / without | attack's errors |")
    print("|---|---:|---:|---:|---:|---|")
    base = results[0]["p99"]
    ok = True
    for r in results:
        ratio = r["p99"] / base
        attacked = not r["name"].startswith("no attack")
        ok = ok and (not attacked or ratio <= ALLOWED_RATIO)
        errs = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"
        print(
            f"| {r['name']} | {r['answers']} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {ratio:.2f}x | {errs} |"
        )
    print(f"\nload average at the end: {load_figures()}")
    verdict = "PASS" if ok else "FAIL"
    print(f"each attack costs the honest licensee at most {ALLOWED_RATIO}x its p99: {verdict}")
    return 0  # like the other benches: the verdict is printed, the exit status stays 0


if __name__ == "__main__":
    raise SystemExit(main())
