"""Start-up time of `kefu serve` on SQLite: spawn to first accepted connection and first welcome."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from common import (
    HELLO,
    ORIGIN,
    create_licensee_cli,
    exit_on_sigterm,
    free_port,
    has_builtin_answerer,
    load_average,
    proc_cpu_seconds,
    server_env,
    spawn_server,
    stop_server,
    wait_accept,
)

TARGET_ACCEPT_S = 2.0  # spawn -> first accepted TCP connection
POLL_S = 0.005
LIMIT_S = 30.0  # a server that is not up by then counts as failed


def create_licensee_inline(url: str) -> str:
    """Create a licensee straight through core (used on the fresh database, once migrated)."""
    from core.db.engine import Database
    from core.licensing.licensees import create_licensee
    from core.types import utcnow

    db = Database(url)
    try:
        with db.session() as session:
            _lic, keys = create_licensee(session, name="Bench", origins=[ORIGIN], now=utcnow())
            session.commit()
    finally:
        db.close()
    return keys.site_key


def try_welcome(port: int, key: str, ask: bool) -> tuple[bool, float | None]:
    """One WebSocket attempt: True when ``welcome`` came; with ``ask``, also time to reply.end."""
    from websockets.sync.client import connect

    with connect(
        f"ws://127.0.0.1:{port}/v1/chat?key={key}",
        origin=ORIGIN,
        compression=None,
        open_timeout=5,
        close_timeout=1,
    ) as ws:
        ws.send(HELLO)
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] != "welcome":
            return False, None
        if not ask:
            return True, None
        ws.send(json.dumps({"type": "message", "id": "m1", "text": "怎么查看我的订单状态？"}))
        while True:
            frame = json.loads(ws.recv(timeout=20))
            if frame["type"] == "reply.end":
                return True, time.perf_counter()


def one_run(env: dict[str, str], key: str | None) -> dict[str, Any]:
    """Spawn, then time the first accept, the first welcome and the first answered message."""
    port = free_port()
    t0 = time.perf_counter()
    proc = spawn_server(env, port)
    out: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + LIMIT_S
        wait_accept(proc, port, deadline, poll=POLL_S, connect_timeout=0.5)
        out["accept"] = time.perf_counter() - t0
        out["cpu"] = proc_cpu_seconds(proc.pid)  # CPU the server used to get there
        if key is None:  # fresh database: the licensee can only exist once migrations ran
            c0 = time.perf_counter()
            key = create_licensee_inline(env["KEFU_DATABASE_URL"])
            out["create"] = time.perf_counter() - c0
        while time.monotonic() < deadline:
            try:
                ok, _ = try_welcome(port, key, ask=False)
            except OSError:
                ok = False
            if ok:
                out["welcome"] = time.perf_counter() - t0
                break
            time.sleep(POLL_S)
        ok, answered = try_welcome(port, key, ask=True)
        if answered is not None:
            out["answer"] = answered - t0
    finally:
        stop_server(proc)
    return out


def guarded(env: dict[str, str], key: str | None) -> dict[str, Any]:
    try:
        return one_run(env, key)
    except Exception as exc:  # a failed start is a figure too: it fails the target
        print(f"  run failed: {type(exc).__name__}: {exc}")
        return {"accept": float("inf"), "error": str(exc)}


def summarise(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<34} median {statistics.median(ms):7.0f} ms  max {max(ms):7.0f} ms  "
        f"min {min(ms):7.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exit_on_sigterm()
    if not has_builtin_answerer():
        print("Start-up: skipped, the built-in answerer is not there yet")
        print(f"  target: accepts connections within {TARGET_ACCEPT_S:.0f} s  FAIL (not measured)")
        return 0

    # Import here, not inside the timed runs on a fresh database.
    import websockets.sync.client  # noqa: F401

    import core.db.engine
    import core.licensing.licensees  # noqa: F401

    print(f"Start-up of `kefu serve` (SQLite): target accepts within {TARGET_ACCEPT_S:.0f} s")
    print(f"Machine at start: {load_average()}")
    results: dict[str, list[dict[str, Any]]] = {"fresh": [], "migrated": []}
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as migrated_dir:
        menv = server_env(migrated_dir)
        mkey = create_licensee_cli(menv)["site_key"]
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="kefu-bench-") as fresh_dir:
                r = guarded(server_env(fresh_dir), None)
            results["fresh"].append(r)
            print(
                f"  fresh    run {run}: accept {r['accept'] * 1000:5.0f} ms "
                f"(server CPU {r.get('cpu', float('nan')) * 1000:4.0f} ms)  welcome "
                f"{r.get('welcome', float('nan')) * 1000:5.0f} ms (incl. licensee creation "
                f"{r.get('create', 0) * 1000:.0f} ms)  first answer "
                f"{r.get('answer', float('nan')) * 1000:5.0f} ms"
            )
            r = guarded(menv, mkey)
            results["migrated"].append(r)
            print(
                f"  migrated run {run}: accept {r['accept'] * 1000:5.0f} ms "
                f"(server CPU {r.get('cpu', float('nan')) * 1000:4.0f} ms)  welcome "
                f"{r.get('welcome', float('nan')) * 1000:5.0f} ms  first answer "
                f"{r.get('answer', float('nan')) * 1000:5.0f} ms"
            )

    print(f"Machine at end: {load_average()}")
    print("\nSummary (spawn -> event, over runs)")
    verdicts = []
    for kind, rows in results.items():
        accept = [r["accept"] for r in rows]
        print("  " + summarise(f"{kind}: first accepted connection", accept))
        cpu = [r["cpu"] for r in rows if "cpu" in r]
        if cpu:
            print("  " + summarise(f"{kind}: server CPU used by accept", cpu))
        welcome = [r["welcome"] for r in rows if "welcome" in r]
        if welcome:
            print("  " + summarise(f"{kind}: first welcome", welcome))
        answer = [r["answer"] for r in rows if "answer" in r]
        if answer:
            print("  " + summarise(f"{kind}: first reply.end", answer))
        ok = len(accept) == args.runs and max(accept) <= TARGET_ACCEPT_S
        verdicts.append(ok)
        print(
            f"  {kind}: target accepts within {TARGET_ACCEPT_S:.0f} s (every run): "
            f"{'PASS' if ok else 'FAIL'}"
        )
    print(f"Start-up overall: {'PASS' if all(verdicts) else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
