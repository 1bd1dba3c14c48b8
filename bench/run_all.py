"""Runs every benchmark script in bench/ one after the other and prints a PASS/FAIL summary."""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Chat-server benches first (cheapest first), then any other script found in bench/.
ORDER = [
    "startup.py",
    "conversation_rate.py",
    "throughput.py",
    "capacity.py",
    "llm_overhead.py",
    "idle_connections.py",
    "answer_quality.py",
    "retrieval_speed.py",
    "widget_size.py",
    "widget_speed.py",
]
NOT_BENCHES = {"common.py"}  # helpers the scripts import, not benchmarks to run
TIMEOUT_S = 1800.0  # per script
# A verdict line: PASS/FAIL (these scripts), or a table row ending in met / not met / MISSED.
VERDICT = re.compile(r"\b(PASS|FAIL|MISSED)\b|\|\s*(met|not met)\s*\|?\s*$")
BAD = re.compile(r"\b(FAIL|MISSED)\b|\|\s*not met\s*\|?\s*$")


def scripts() -> list[Path]:
    found = {
        p.name: p
        for p in HERE.glob("*.py")
        if p.name != Path(__file__).name
        and p.name not in NOT_BENCHES
        and not p.name.startswith("_")
    }
    ordered = [found.pop(name) for name in ORDER if name in found]
    return ordered + [found[name] for name in sorted(found)]


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_kib = int(fh.readline().split()[1])
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the script's process group (it stops its servers), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def run(script: Path, timeout: float) -> tuple[int | None, float, list[str]]:
    """Run one script, echoing its output; returns exit status, seconds and its verdict lines."""
    t0 = time.monotonic()
    verdicts: list[str] = []
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that a timeout can stop the script and its children
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            if VERDICT.search(line):
                verdicts.append(line.strip())
            if time.monotonic() - t0 > timeout:
                raise TimeoutError
        status: int | None = proc.wait(max(1.0, timeout - (time.monotonic() - t0)))
    except (TimeoutError, subprocess.TimeoutExpired):
        stop_group(proc)
        verdicts.append(f"timed out after {timeout:.0f} s  FAIL")
        status = None
    except BaseException:
        stop_group(proc)
        raise
    return status, time.monotonic() - t0, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="script names to run (default: all)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per script")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = [s for s in scripts() if not args.only or s.name in args.only or s.stem in args.only]
    print(f"Machine: {machine()}")
    print(f"Running {len(chosen)} benchmark scripts: {', '.join(s.name for s in chosen)}\n")
    results = []
    for script in chosen:
        print(f"===== {script.name} =====", flush=True)
        results.append((script.name, *run(script, args.timeout)))
        print()
    print("===== Summary =====")
    for name, status, seconds, verdicts in results:
        state = "exit 0" if status == 0 else f"exit {status}" if status is not None else "killed"
        print(f"{name} ({state}, {seconds:.0f} s)")
        for line in verdicts or ["(no PASS/FAIL line printed)"]:
            print(f"    {line}")
    failed = sum(1 for r in results for v in r[3] if BAD.search(v))
    passed = sum(len(r[3]) for r in results) - failed
    print(f"\nverdict lines: {passed} met (PASS), {failed} missed (FAIL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
