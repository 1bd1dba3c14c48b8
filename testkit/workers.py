"""Real ``kefu serve`` processes sharing one PostgreSQL and one Redis, and private servers of
both that a test may stop and start (never the shared ones)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

KEFU = Path(sys.executable).with_name("kefu")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def worker_env(database_url: str, redis_url: str | None, **settings: str) -> dict[str, str]:
    """The environment of a worker: no other KEFU_ variable, a fresh secret, a Redis prefix of
    its own (tests share the Redis server), quick jobs, lexical retrieval."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATABASE_URL=database_url,
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_REDIS_PREFIX=f"t{secrets.token_hex(5)}:",
        KEFU_RETRIEVAL_ENCODER="off",
        KEFU_SWEEP_INTERVAL_SECONDS="0.2",
        KEFU_LEADER_CHECK_SECONDS="0.3",
        KEFU_RATE_VISITOR_MESSAGES="1000/s",
        KEFU_RATE_ADDRESS_MESSAGES="10000/s",
        KEFU_RATE_ADDRESS_HELLOS="10000/min",
        KEFU_RATE_VISITOR_HELLOS="10000/min",
        KEFU_RATE_VISITOR_CONVERSATIONS="1000/min",
    )
    if redis_url:
        env["KEFU_REDIS_URL"] = redis_url
    env.update({f"KEFU_{k.upper()}": v for k, v in settings.items()})
    return env


@dataclass
class Worker:
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Workers:
    """``kefu serve`` processes started with one environment; each gets its own port and log."""

    env: dict[str, str]
    logs: Path
    started: list[Worker] = field(default_factory=list)

    def start(self, *args: str, port: int | None = None) -> Worker:
        port = port or free_port()
        log = self.logs / f"worker-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - the installed kefu, arguments of our own
                [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(port, log, proc)
        self.started.append(worker)
        try:
            wait_port(port, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{worker.log_text()}") from None
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@dataclass
class PrivateRedis:
    """A redis-server of the test's own, on a free port, that the test may stop and start."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redis = shutil.which("redis-server") or "redis-server"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(  # noqa: S603 - arguments of our own
            [redis, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own in ``directory``, on a free port."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - arguments of our own
            [*_as_postgres_user(), *args], check=True, capture_output=True, timeout=120
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        initdb = shutil.which("initdb") or "initdb"
        self._run(initdb, "-D", str(self.directory / "data"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = shutil.which("pg_ctl") or "pg_ctl"
        self._run(pg_ctl, "-D", str(self.directory / "data"), "-o", options,
                  "-l", str(self.directory / "log"), "-w", "start")  # fmt: skip
        wait_port(self.port)

    def stop(self) -> None:
        pg_ctl = shutil.which("pg_ctl") or "pg_ctl"
        self._run(pg_ctl, "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A new cluster in a temporary directory of its own (the server's user, not root, must
    reach it: a test's tmp_path is private to root), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="kefu-pg-"))
    server = PrivatePostgres(directory)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test already
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
