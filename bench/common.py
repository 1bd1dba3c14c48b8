"""Shared pieces of the chat-server benches: `kefu serve` on a temporary database, /proc figures,
chat client processes."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.typing import Origin

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

ORIGIN = Origin("https://shop.example.com")
KEFU = Path(sys.executable).with_name("kefu")
DEMO_KB = Path(__file__).resolve().parent.parent / "kefu" / "data" / "demo_kb.json"
HELLO = '{"type":"hello","visitor":null,"locale":"zh-CN"}'
# Rate limits raised for the benches: one site key carries far more than a human's pace.
RAISED_LIMITS: dict[str, str] = {
    "KEFU_RATE_VISITOR_MESSAGES": "100000/s",
    "KEFU_RATE_KEY_MESSAGES": "1000000/s",
    "KEFU_RATE_VISITOR_CONVERSATIONS": "100000/s",
    "KEFU_RATE_KEY_CONVERSATIONS": "1000000/s",
    "KEFU_RATE_VISITOR_HELLOS": "100000/s",
    "KEFU_RATE_ADDRESS_HELLOS": "1000000/s",
}


# ---------------------------------------------------------------- /proc figures


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / clock_ticks()


def busy_cpu_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / clock_ticks()


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def load_figures() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        return " ".join(fh.read().split()[:3])


def load_average() -> str:
    return f"load average {load_figures()} on {os.cpu_count()} CPUs"


def mount_of(path: str) -> tuple[str, str]:
    """The mount point holding ``path`` and its filesystem type, from /proc/mounts."""
    best = ("?", "?")
    real = os.path.realpath(path)
    with open("/proc/mounts", encoding="utf-8") as fh:
        for entry in fh:
            parts = entry.split()
            mount, kind = parts[1], parts[2]
            inside = real == mount or real.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, kind)
    return best


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank below); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- processes


def die_with_parent() -> None:
    """Run in a child before exec: it gets SIGTERM if this bench process dies (Linux prctl)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def exit_on_sigterm() -> None:
    """SIGTERM ends the bench through its ``finally`` blocks, so its servers are stopped too."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal shares, the remainder on the first."""
    per = [total // parts] * parts
    per[0] += total - sum(per)
    return per


def spawn_child(script: str, args: list[str], *, stdin: bool = False) -> subprocess.Popen[str]:
    """``script --child args`` in a new Python process that dies with this one; stdout piped,
    and stdin too when asked."""
    return subprocess.Popen(
        [sys.executable, script, "--child", *args],
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )


def kill_all(procs: list[subprocess.Popen[str]]) -> None:
    """Kill and reap every process of ``procs`` that still runs."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The hidden arguments `client_processes` passes a client process, save those each bench
    declares itself (--users, --warmup, --window and the bench's own)."""
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--first-user", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)


@dataclass(frozen=True)
class ClientsRun:
    """What `client_processes` measured."""

    outs: list[dict[str, Any]]  # each client process's result
    cpu: list[float]  # CPU seconds each watched process used in the window
    clients_cpu: float  # CPU seconds the client processes used in the window
    busy_cpu: float  # CPU seconds all cores spent busy in the window
    load: str  # load_average() at the window's end


def client_processes(
    script: str,
    url: str,
    users: int,
    processes: int,
    *,
    start_at: float,
    warmup: float,
    window: float,
    seed: int,
    extra: list[str],
    watch: list[int],
    grace: float = 60.0,
) -> ClientsRun:
    """``users`` visitors of ``url`` shared among ``processes`` client processes (``script
    --child`` with ``extra`` arguments; seeds ``seed * 100`` on) that start at ``start_at``;
    CPU figures over the ``window`` seconds after ``warmup``; each process's JSON result,
    waited for until ``grace`` seconds after the window. The clients are killed if still there."""
    clients: list[subprocess.Popen[str]] = []
    try:
        first = 0
        for c, n in enumerate(shares(users, processes)):
            clients.append(
                spawn_child(
                    script,
                    [
                        "--url",
                        url,
                        "--users",
                        str(n),
                        "--first-user",
                        str(first),
                        "--start-at",
                        repr(start_at),
                        "--warmup",
                        repr(warmup),
                        "--window",
                        repr(window),
                        *extra,
                        "--seed",
                        str(seed * 100 + c),
                    ],
                )
            )
            first += n
        w0 = start_at + warmup
        time.sleep(max(0.0, w0 - time.monotonic()))
        p0 = [proc_cpu_seconds(pid) for pid in watch]
        c0 = sum(proc_cpu_seconds(c.pid) for c in clients)
        b0 = busy_cpu_seconds()
        time.sleep(max(0.0, w0 + window - time.monotonic()))
        p1 = [proc_cpu_seconds(pid) for pid in watch]
        c1 = sum(proc_cpu_seconds(c.pid) for c in clients)
        b1 = busy_cpu_seconds()
        load = load_average()
        outs = []
        limit = time.monotonic() + grace
        for client in clients:
            out, _ = client.communicate(timeout=max(1.0, limit - time.monotonic()))
            outs.append(json.loads(out))
    finally:
        kill_all(clients)
    return ClientsRun(outs, [b - a for a, b in zip(p0, p1, strict=True)], c1 - c0, b1 - b0, load)


def has_builtin_answerer() -> bool:
    """Whether bot.answerers.knowledge_base imports (`kefu serve` needs the built-in answerer)."""
    try:
        import bot.answerers.knowledge_base  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- `kefu` commands and server


def server_env(tmp: str, limits: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus a SQLite database in ``tmp``, a new secret and ``limits``."""
    env = dict(os.environ)
    env["KEFU_DATABASE_URL"] = f"sqlite:///{tmp}/kefu.db"
    env["KEFU_SECRET_KEY"] = secrets.token_urlsafe(40)
    env.update(limits or {})
    return env


def run_kefu(env: dict[str, str], args: list[str], timeout: float, kefu: Path = KEFU) -> str:
    """Run ``kefu <args>`` to completion (an error raises) and return what it printed."""
    done = subprocess.run(
        [str(kefu), *args], env=env, check=True, capture_output=True, text=True, timeout=timeout
    )
    return done.stdout


def create_licensee_cli(env: dict[str, str], kefu: Path = KEFU) -> dict[str, Any]:
    """Create the bench licensee with `kefu licensee create`; its JSON (``id``, ``site_key``)."""
    out = run_kefu(
        env,
        ["licensee", "create", "--name", "Bench", "--origin", ORIGIN, "--json"],
        timeout=60,
        kefu=kefu,
    )
    info: dict[str, Any] = json.loads(out)
    return info


def import_demo_kb(env: dict[str, str], licensee_id: str, kefu: Path = KEFU) -> None:
    args = ["kb", "import", "--licensee", licensee_id, str(DEMO_KB), "--json"]
    run_kefu(env, args, timeout=120, kefu=kefu)


def spawn_server(
    env: dict[str, str],
    port: int,
    preexec: Callable[[], None] = die_with_parent,
    kefu: Path = KEFU,
) -> subprocess.Popen[bytes]:
    """Start `kefu serve` (``kefu``: the executable of the tree to run) on 127.0.0.1:``port``
    without waiting for it."""
    return subprocess.Popen(
        [str(kefu), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,
    )


def wait_accept(
    proc: subprocess.Popen[bytes],
    port: int,
    deadline: float,
    poll: float = 0.05,
    connect_timeout: float = 0.2,
) -> None:
    """Return once the port accepts a connection; raise if the server exits or time runs out."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kefu serve exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=connect_timeout).close()
            return
        except OSError:
            time.sleep(poll)
    raise TimeoutError("no accepted connection")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 15 s if it is still there."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(
    env: dict[str, str],
    port: int,
    preexec: Callable[[], None] = die_with_parent,
    kefu: Path = KEFU,
) -> subprocess.Popen[bytes]:
    """Start `kefu serve` and wait (30 s at most) until its port accepts connections."""
    proc = spawn_server(env, port, preexec, kefu)
    try:
        wait_accept(proc, port, time.monotonic() + 30)
    except TimeoutError:
        stop_server(proc)
        raise RuntimeError("kefu serve did not start") from None
    return proc


@dataclass(frozen=True)
class BenchServer:
    """A running `kefu serve` and the site key of the one licensee on its database."""

    proc: subprocess.Popen[bytes]
    port: int
    site_key: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def chat_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/chat?key={self.site_key}"


@contextmanager
def bench_server(
    limits: Mapping[str, str],
    *,
    demo_kb: bool = False,
    tmp_dir: str | None = None,
    preexec: Callable[[], None] = die_with_parent,
    kefu: Path = KEFU,
) -> Iterator[BenchServer]:
    """`kefu serve` on a fresh temporary SQLite database with a licensee (and the demo KB);
    stopped, and the database removed, however the block ends."""
    with tempfile.TemporaryDirectory(prefix="kefu-bench-", dir=tmp_dir) as tmp:
        env = server_env(tmp, limits)
        info = create_licensee_cli(env, kefu)
        if demo_kb:
            import_demo_kb(env, info["id"], kefu)
        port = free_port()
        proc = start_server(env, port, preexec, kefu)
        try:
            yield BenchServer(proc, port, info["site_key"])
        finally:
            stop_server(proc)


# ---------------------------------------------------------------- inside a client process


def questions() -> list[tuple[str, str]]:
    """(text, locale) for every standard question and similar phrasing of the demo KB, but the
    hand-off phrases: those ask for a person (``handoff``), and the robot does not answer them."""
    from core.chat.handoff_rules import DEFAULT_PHRASES, normalise

    handoff = {normalise(p) for p in DEFAULT_PHRASES}
    out: list[tuple[str, str]] = []
    for entry in json.loads(DEMO_KB.read_text(encoding="utf-8")):
        locale = "en" if entry["question"].isascii() else "zh-CN"
        texts = [entry["question"], *entry.get("similar", [])]
        out.extend((q, locale) for q in texts if normalise(q) not in handoff)
    return out


async def run_visitors(
    url: str,
    first: int,
    n: int,
    rng: random.Random,
    qs: list[tuple[str, str]],
    errors: Counter[str],
    counts: Counter[str],
    converse: Callable[[int, ClientConnection], Awaitable[None]],
) -> float:
    """Visitors ``first`` to ``first + n - 1`` of ``url`` at once; the CPU seconds it took.

    Each connects (a failure counts in ``errors`` as ``connect:<exception>``), says hello in
    the locale of a question drawn from ``qs``, waits for the welcome (``ready`` in ``counts``),
    then runs ``converse(visitor, ws)``; an exception counts in ``errors`` by its name, and the
    connection is closed however it ends."""
    from websockets.asyncio.client import connect

    async def visitor(u: int) -> None:
        try:
            ws = await connect(
                url,
                origin=ORIGIN,
                compression=None,
                max_size=None,
                open_timeout=30,
                close_timeout=1,
                ping_interval=None,
            )
        except Exception as exc:
            errors[f"connect:{type(exc).__name__}"] += 1
            return
        try:
            _, locale = rng.choice(qs)
            await ws.send(json.dumps({"type": "hello", "visitor": None, "locale": locale}))
            while '"welcome"' not in await asyncio.wait_for(ws.recv(), 30):
                pass
            counts["ready"] += 1
            await converse(u, ws)
        except Exception as exc:
            errors[type(exc).__name__] += 1
        finally:
            await ws.close()

    cpu0 = time.process_time()
    await asyncio.gather(*(visitor(first + u) for u in range(n)))
    return time.process_time() - cpu0


def run_client(main: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> int:
    """A client process: a higher open-file limit, ``main()`` on uvloop (on asyncio without it),
    its result as JSON on stdout."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    # The load generator never stops for the cyclic garbage collector: its full passes (30-70 ms
    # measured in these processes) would be counted as the server's latency. A run lasts under a
    # minute; its garbage waits for the exit.
    gc.disable()
    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    json.dump(result, sys.stdout)
    return 0


def first_message_load(db: Any, n: int) -> tuple[list[Any], Callable[[Any], Any]]:
    """The writer benches' load on a migrated ``db``: a new licensee, ``n`` end users of it, and
    the write of an end user's first message (which starts a unit), made when it is called."""
    from functools import partial

    from sqlmodel import select

    from core.chat import conversations as units
    from core.db.tables import ApiKey, KeyKind
    from core.licensing.licensees import create_licensee
    from core.types import utcnow

    with db.session() as session:
        lic, _keys = create_licensee(session, name="Bench", origins=[ORIGIN], now=utcnow())
        session.commit()
        key_id = session.exec(
            select(ApiKey.id).where(ApiKey.licensee_id == lic.id, ApiKey.kind == KeyKind.LIVE)
        ).one()
    policy = units.UnitPolicy()
    speakers = [
        units.Speaker(
            licensee_id=lic.id,
            visitor_id=f"v_bench{i:07d}",
            key_id=key_id,
            test=False,
            beyond_term=False,
            policy=policy,
        )
        for i in range(n)
    ]

    def op(who: Any) -> Any:
        return partial(
            units.record_visitor_message,
            who=who,
            client_id="m1",
            text="我的订单到哪一步了",
            now=utcnow(),
        )

    return speakers, op


def scrape(port: int) -> dict[str, float]:
    """The server's /metrics as {'name{label="v",...}': value} (loopback needs no token)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def stalls(before: dict[str, float], after: dict[str, float]) -> str:
    """What the event loop and the collector did between two scrapes, in one line: how many
    probe wake-ups were 50 ms / 100 ms late, and each generation's collections and their time."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    lag = "kefu_event_loop_lag_seconds_bucket"
    total = delta(f'{lag}{{le="+Inf"}}')
    over50 = total - delta(f'{lag}{{le="0.025"}}')
    over100 = total - delta(f'{lag}{{le="0.05"}}')
    over250 = total - delta(f'{lag}{{le="0.1"}}')
    gcs = []
    for gen in ("0", "1", "2"):
        n = delta(f'kefu_gc_pause_seconds_count{{generation="{gen}"}}')
        took = delta(f'kefu_gc_pause_seconds_sum{{generation="{gen}"}}')
        slow = n - delta(f'kefu_gc_pause_seconds_bucket{{generation="{gen}",le="0.025"}}')
        gcs.append(f"gen{gen} {n:.0f}x {took * 1000:.0f} ms ({slow:.0f} >25 ms)")
    return (
        f"loop late >25 ms {over50:.0f}x, >50 ms {over100:.0f}x, >100 ms {over250:.0f}x; "
        f"gc {', '.join(gcs)}"
    )
