"""Capacity at SLO: the highest offered rate at which p99 `message` -> `reply.end` stays <= 50 ms,
old code against new code, alternating in one run.

200 end users on one `kefu serve` (SQLite, built-in answerer, demo KB), each sending on a fixed
schedule (``throughput.py``'s load generator); latency is counted from the moment a message was
sent to its ``reply.end``. A rate passes when p99 <= 50 ms, no errors, and at least 95 % of what
was offered was answered in the window (so a server that falls behind, and makes its senders
wait, fails even if the few messages it answers are quick). Each search bisects the offered
rate on a log scale between ``--low`` and ``--high``.

The old code runs from its own tree and virtual environment: ``--old-tree PATH`` (made there
from ``--old-ref`` with `git worktree add` and a venv with `pip install -e` when PATH has no
``.venv/bin/kefu`` yet; by default a directory in the system's temporary directory, kept for
the next run). The new code is this tree, run with this interpreter's `kefu`. ``--variant REF``
adds a third (fourth...) tree made the same way, for the A/B of a mechanism that REF has and
this tree has not; every tree is searched in every round. ``--encoder-ab`` searches this tree
twice instead, with the sentence encoder off (lexical only) and on (the built-in one, waited for
before timing: it loads in the background), and no old tree.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from common import (
    KEFU,
    RAISED_LIMITS,
    add_client_arguments,
    bench_server,
    client_processes,
    exit_on_sigterm,
    load_average,
    mount_of,
    pct,
    rss_kib,
    run_client,
)
from throughput import client_main, warm

SLO_P99_MS = 50.0
ENCODER_TARGET = 300.0  # answered msg/s at SLO with the encoder on (issue 12)
KEEP_SHARE = 0.80  # the new shape must keep this share of the old code's capacity
ANSWERED_SHARE = 0.95  # of the offered messages, answered within the window
REPO = Path(__file__).resolve().parent.parent
# 200 users on one loopback address: far above the per-address limits meant for the internet.
ONE_ADDRESS = {"KEFU_MAX_SOCKETS_PER_ADDRESS": "100000", "KEFU_RATE_ADDRESS_MESSAGES": "1000000/s"}
# The built-in encoder's weights (62 MiB of uint8 embedding table, 13 MiB of float32 layers):
# once the server's resident set has grown by this much, it has loaded them.
ENCODER_LOADED_KIB = 60 * 1024


@dataclass(frozen=True)
class Tree:
    label: str
    kefu: Path
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Probe:
    offered: float
    answered: float
    p99_ms: float
    errors: int
    server_cpu_ms: float  # server process CPU per answered message

    @property
    def passes(self) -> bool:
        return (
            self.p99_ms <= SLO_P99_MS
            and self.errors == 0
            and self.answered >= ANSWERED_SHARE * self.offered
        )


# ---------------------------------------------------------------- the old tree


def ref_tree(path: Path, ref: str, label: str) -> Tree:
    """The `kefu` of ``ref``'s tree at ``path``, making the worktree and venv when missing."""
    kefu = path / ".venv" / "bin" / "kefu"
    if not kefu.exists():
        print(f"Making the tree of {ref} and its venv (once; reused by later runs)", flush=True)
        if not (path / "pyproject.toml").exists():
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref],
                check=True,
            )
        subprocess.run([sys.executable, "-m", "venv", str(path / ".venv")], check=True)
        pip = path / ".venv" / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", "-e", str(path)], check=True)
    rev = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Tree(f"{label} ({ref}, {rev})", kefu)


def default_path(ref: str) -> Path:
    return Path(tempfile.gettempdir()) / f"kefu-capacity-{ref.replace('/', '-')}"


def this_tree() -> Tree:
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Tree(f"new ({rev}{' + changes' if dirty else ''})", KEFU)


# ---------------------------------------------------------------- one search


def probe(args: argparse.Namespace, url: str, pid: int, rate: float, seed: int) -> Probe:
    run = client_processes(
        __file__,
        url,
        args.users,
        args.clients,
        start_at=time.monotonic() + args.setup,
        warmup=args.warmup,
        window=args.window,
        seed=seed,
        extra=["--interval", repr(args.users / rate)],
        watch=[pid],
    )
    latencies = [v for o in run.outs for v in o["lat"]]
    errors: Counter[str] = Counter()
    for o in run.outs:
        errors.update(o["errors"])
    (server_cpu,) = run.cpu
    answered = len(latencies)
    return Probe(
        offered=rate,
        answered=answered / args.window,
        p99_ms=pct(latencies, 0.99) * 1000,
        errors=sum(errors.values()),
        server_cpu_ms=server_cpu / max(answered, 1) * 1000,
    )


def capacity(args: argparse.Namespace, tree: Tree, seed: int) -> tuple[float, Probe | None]:
    """The highest passing offered rate found, and the probe at it (None if even --low failed)."""
    low, high = math.log(args.low), math.log(args.high)
    best: Probe | None = None
    limits = {**RAISED_LIMITS, **ONE_ADDRESS, **dict(tree.env)}
    with bench_server(limits, demo_kb=True, tmp_dir=args.dir, kefu=tree.kefu) as server:
        warm(server.chat_url)
        if limits.get("KEFU_RETRIEVAL_ENCODER") == "builtin":
            wait_for_encoder(server.chat_url, server.pid)
        resident = rss_kib(server.pid) / 1024
        print(f"    server resident set when warm: {resident:.0f} MiB", flush=True)
        for step in range(args.steps):
            # The first probe is --low itself; then bisect between the best pass and the
            # lowest failure.
            rate = args.low if step == 0 else math.exp((low + high) / 2)
            result = probe(args, server.chat_url, server.pid, rate, seed * 100 + step)
            print(
                f"    {rate:7,.0f}/s offered: answered {result.answered:7,.0f}/s  p99 "
                f"{result.p99_ms:7.1f} ms  errors {result.errors}  server CPU "
                f"{result.server_cpu_ms:.2f} ms/msg  {'pass' if result.passes else 'FAIL'}",
                flush=True,
            )
            if result.passes:
                low, best = math.log(rate), result
            else:
                high = math.log(rate)
                if step == 0:
                    break
    return (best.offered if best else 0.0), best


def wait_for_encoder(url: str, pid: int, timeout: float = 30.0) -> None:
    """Wait until the server has loaded the encoder (its resident set grows by the weights;
    if it does not within ``timeout`` they were in before we looked: the resident set printed
    after this says which), then ask again: the question starts the rebuild of the index with
    the encoder, which the next seconds (and each probe's warm-up) leave time to finish."""
    before = rss_kib(pid)
    deadline = time.monotonic() + timeout
    while rss_kib(pid) - before < ENCODER_LOADED_KIB and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    warm(url)
    time.sleep(3.0)
    warm(url)


# ---------------------------------------------------------------- orchestration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_client_arguments(parser)
    parser.add_argument("--interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--rounds", type=int, default=3, help="searches of each tree")
    parser.add_argument("--steps", type=int, default=6, help="probes per search")
    parser.add_argument("--low", type=float, default=100.0, help="lowest offered msg/s")
    parser.add_argument("--high", type=float, default=3200.0, help="highest offered msg/s")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--setup", type=float, default=3.0, help="seconds to connect everyone")
    parser.add_argument(
        "--dir",
        help="directory for the databases (default: the system's temporary directory); a "
        "tmpfs takes the disk's fsync time out when other work shares the disk",
    )
    parser.add_argument("--old-ref", default="old-shape", help="git ref of the old code")
    parser.add_argument(
        "--old-tree",
        type=Path,
        help="the old code's tree with its .venv (made from --old-ref if missing)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="git ref of another tree to search too (repeatable)",
    )
    parser.add_argument(
        "--encoder-ab",
        action="store_true",
        help="search this tree with the sentence encoder off and on (no old tree)",
    )
    args = parser.parse_args()
    exit_on_sigterm()
    if args.child:
        return run_client(partial(client_main, args))

    if args.encoder_ab:
        here = this_tree()
        off = Tree(f"{here.label}, encoder off", KEFU, (("KEFU_RETRIEVAL_ENCODER", "off"),))
        on = Tree(f"{here.label}, encoder on", KEFU, (("KEFU_RETRIEVAL_ENCODER", "builtin"),))
        return search_all(args, [off, on], old=off, new=on, variants=[])
    path = args.old_tree or default_path(args.old_ref)
    old, new = ref_tree(path.resolve(), args.old_ref, "old"), this_tree()
    variants = [ref_tree(default_path(ref), ref, "variant") for ref in args.variant]
    return search_all(args, [old, *variants, new], old=old, new=new, variants=variants)


def search_all(
    args: argparse.Namespace, trees: list[Tree], old: Tree, new: Tree, variants: list[Tree]
) -> int:
    """Every tree searched in every round, ABBA; the summary against ``old``."""
    where = args.dir or tempfile.gettempdir()
    kind = f"{mount_of(where)[1]} (mounted at {mount_of(where)[0]})"
    print(
        f"Capacity at SLO: p99 message -> reply.end <= {SLO_P99_MS:.0f} ms, {args.users} users, "
        f"one `kefu serve` (SQLite, demo KB); {args.steps} probes per search between "
        f"{args.low:,.0f} and {args.high:,.0f} msg/s, {args.warmup:.0f} s warm-up + "
        f"{args.window:.0f} s window each.\nDatabases in {where}: {kind}. {load_average()}"
    )
    found: dict[str, list[tuple[float, Probe | None]]] = {tree.label: [] for tree in trees}
    try:
        for r in range(args.rounds):
            # ABBA order: a machine that drifts over the run favours no tree.
            for i, tree in enumerate(trees if r % 2 == 0 else trees[::-1]):
                print(f"\n  round {r + 1}, {tree.label}", flush=True)
                found[tree.label].append(capacity(args, tree, seed=r * 10 + i))
                print(f"    -> capacity {found[tree.label][-1][0]:,.0f} msg/s  ({load_average()})")
    except Exception as exc:
        print(f"  run failed: {type(exc).__name__}: {exc}")

    print("\nSummary (median over rounds; min-max)")
    medians: dict[str, float] = {}
    for label, results in found.items():
        if not results:
            print(f"  {label}: no search completed")
            continue
        rates = [c for c, _ in results]
        cpu = [p.server_cpu_ms for _, p in results if p is not None]
        medians[label] = statistics.median(rates)
        cpu_text = f"{statistics.median(cpu):.2f} ms" if cpu else "n/a"
        print(
            f"  {label:<32} capacity {medians[label]:7,.0f} msg/s ({min(rates):,.0f}-"
            f"{max(rates):,.0f}); server CPU per message at it {cpu_text}"
        )
    if args.encoder_ab:
        if new.label in medians:
            verdict = "PASS" if medians[new.label] >= ENCODER_TARGET else "FAIL"
            print(f"  encoder on: target >= {ENCODER_TARGET:,.0f} msg/s  {verdict}")
        if medians.get(old.label) and new.label in medians:
            print(f"  encoder on / off: {medians[new.label] / medians[old.label]:.0%}")
    elif old.label in medians and new.label in medians and medians[old.label]:
        ratio = medians[new.label] / medians[old.label]
        verdict = "PASS" if ratio >= KEEP_SHARE else "FAIL"
        print(f"  new / old: {ratio:.0%}  target >= {KEEP_SHARE:.0%}  {verdict}")
    for variant in variants:
        if variant.label in medians and new.label in medians and medians[variant.label]:
            print(f"  new / {variant.label}: {medians[new.label] / medians[variant.label]:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
