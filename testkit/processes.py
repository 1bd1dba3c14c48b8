"""A real ``kefu serve`` process on loopback, started from the tests' own environment."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

KEFU = Path(sys.executable).with_name("kefu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], within: float = 30) -> None:
    """Until ``/healthz`` answers; raises if the process exits or time runs out."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kefu serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("kefu serve did not start")


def start_serve(env: dict[str, str], port: int, out: IO[bytes]) -> subprocess.Popen[bytes]:
    """``kefu serve`` on 127.0.0.1:``port`` writing its output to ``out``, once it answers."""
    proc = subprocess.Popen(  # noqa: S603 - the installed kefu, fixed arguments
        [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=out,
        stderr=out,
    )
    try:
        wait_ready(port, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc
