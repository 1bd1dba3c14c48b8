"""Time chat over HTTP adds to the first streamed piece of an answer, beside the WebSocket.

One `kefu serve` (built-in answerer, demo knowledge base, SQLite) and one client process with
``--clients`` concurrent end users per transport. Blocks alternate in one run: all clients ask
over the WebSocket (each on its open socket, after its hello), then all ask over
``POST /v1/chat/completions`` with ``stream: true`` (each on its own kept-alive HTTP
connection), ``--rounds`` questions each, ``--blocks`` times, after one warm-up block of each.
A sample is the time from sending a question to receiving the first piece of its answer
(``reply.delta``; the first chunk with content). Both ask the same questions, so both get the
same answers: the difference is what the HTTP path costs (authenticating the secret key, finding
the end user's unit and memory, SSE framing), all of it server time except the client's own
parsing, which is in both columns.

Old and new code side by side in one run: the old code (``--old-ref``, by default ``main``)
runs from its own tree and virtual environment (``--old-tree``, made as `bench/capacity.py`
makes it), with its own database; blocks alternate between the two servers too. The HTTP client
is a few lines over asyncio streams (HTTP/1.1, kept alive, chunked bodies), so that the client's
own cost per request is near the WebSocket client's rather than httpx's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity import Tree, default_path, ref_tree, this_tree
from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    create_licensee_cli,
    free_port,
    import_demo_kb,
    load_average,
    pct,
    proc_cpu_seconds,
    questions,
    server_env,
    start_server,
    stop_server,
)
from websockets.asyncio.client import ClientConnection, connect

TARGET_ADDED_P99_MS = 5.0


async def ws_client(url: str, n: int, asked: list[str]) -> tuple[ClientConnection, int]:
    socket = await connect(url, origin=ORIGIN, max_size=None)
    await socket.send(HELLO)
    while json.loads(await socket.recv())["type"] != "welcome":
        pass
    return socket, n


async def ws_round(socket: ClientConnection, tag: str, text: str) -> float:
    sent = time.perf_counter()
    await socket.send(json.dumps({"type": "message", "id": tag, "text": text}))
    first: float | None = None
    while True:
        frame = json.loads(await socket.recv())
        if frame["type"] == "reply.delta" and first is None:
            first = time.perf_counter() - sent
        elif frame["type"] == "reply.end":
            assert first is not None
            return first
        elif frame["type"] == "error":
            raise RuntimeError(frame)


class HttpConnection:
    """One kept-alive HTTP/1.1 connection that posts JSON and reads a chunked SSE body."""

    def __init__(self, port: int, secret_key: str) -> None:
        self.port = port
        self.head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {secret_key}\r\nContent-Type: application/json\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """(Re)connect: the server closes a connection idle for 5 s, as between blocks."""
        await self.close()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def post(self, body: bytes) -> AsyncIterator[bytes]:
        """Send the request; yield the body's chunks as they come."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head)
        if b"transfer-encoding: chunked" not in head.lower():
            raise RuntimeError(f"not a chunked body: {head!r}")
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            chunk = await self.reader.readexactly(size + 2)
            yield chunk[:-2]


async def http_round(conn: HttpConnection, user: str, text: str) -> float:
    body = {
        "model": "kefu",
        "user": user,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    raw = json.dumps(body).encode()
    sent = time.perf_counter()
    first: float | None = None
    buffered = b""
    async for chunk in conn.post(raw):
        buffered += chunk
        if first is None and b'"content":"' in buffered.replace(b'"content":""', b""):
            first = time.perf_counter() - sent
    if not buffered.endswith(b"data: [DONE]\n\n"):
        raise RuntimeError(buffered[-200:])
    assert first is not None
    return first


@dataclass
class Target:
    """One server under test: its label, port and keys, and its clients once connected."""

    label: str
    pid: int
    port: int
    site_key: str
    secret_key: str
    sockets: list[ClientConnection] = field(default_factory=list)
    conns: list[HttpConnection] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=lambda: {"websocket": [], "http": []})
    cpu: dict[str, float] = field(default_factory=lambda: {"websocket": 0.0, "http": 0.0})

    async def block(self, name: str, body: Awaitable[None], keep: bool) -> None:
        """Run a block of questions; count the server's CPU seconds over it."""
        before = proc_cpu_seconds(self.pid)
        await body
        if keep:
            self.cpu[name] += proc_cpu_seconds(self.pid) - before


async def connect_all(target: Target, clients: int) -> None:
    url = f"ws://127.0.0.1:{target.port}/v1/chat?key={target.site_key}"
    target.sockets = [
        s for s, _ in await asyncio.gather(*(ws_client(url, n, []) for n in range(clients)))
    ]
    target.conns = [HttpConnection(target.port, target.secret_key) for _ in range(clients)]


async def run(args: argparse.Namespace, targets: list[Target]) -> dict[str, Any]:
    qs = [q for q, _ in questions()]
    counter = 0

    async def ws_block(target: Target, keep: bool) -> None:
        async def one(n: int) -> None:
            nonlocal counter
            for r in range(args.rounds):
                counter += 1
                took = await ws_round(target.sockets[n], f"m{counter}", qs[(n + r) % len(qs)])
                if keep:
                    target.samples["websocket"].append(took)

        await asyncio.gather(*(one(n) for n in range(args.clients)))

    async def http_block(target: Target, keep: bool) -> None:
        await asyncio.gather(*(c.open() for c in target.conns))  # untimed, as the ws hellos

        async def one(n: int) -> None:
            for r in range(args.rounds):
                took = await http_round(target.conns[n], f"bench-user-{n}", qs[(n + r) % len(qs)])
                if keep:
                    target.samples["http"].append(took)

        await asyncio.gather(*(one(n) for n in range(args.clients)))

    for target in targets:
        await connect_all(target, args.clients)
    try:
        for block in range(args.blocks + 1):  # the first is a warm-up
            for target in targets:
                keep = block > 0
                await target.block("websocket", ws_block(target, keep), keep)
                await target.block("http", http_block(target, keep), keep)
    finally:
        for target in targets:
            for socket in target.sockets:
                await socket.close()
            for conn in target.conns:
                await conn.close()
    figures: dict[str, Any] = {}
    for target in targets:
        mine: dict[str, Any] = {}
        for name, values in target.samples.items():
            mine[name] = {
                "samples": len(values),
                "p50_ms": round(pct(values, 0.50) * 1000, 2),
                "p99_ms": round(pct(values, 0.99) * 1000, 2),
                "server_cpu_ms_per_answer": round(target.cpu[name] / len(values) * 1000, 2),
            }
        mine["added_p50_ms"] = round(mine["http"]["p50_ms"] - mine["websocket"]["p50_ms"], 2)
        mine["added_p99_ms"] = round(mine["http"]["p99_ms"] - mine["websocket"]["p99_ms"], 2)
        # The p99s of two loaded samples differ by noise of tens of ms either way: a typical
        # (p50) addition over the target means the p99 target is not met, whatever the p99s say.
        mine["passed"] = max(mine["added_p50_ms"], mine["added_p99_ms"]) <= TARGET_ADDED_P99_MS
        figures[target.label] = mine
    return figures


def serve(tree: Tree, tmp: str, stack: ExitStack) -> Target:
    """Start ``tree``'s `kefu serve` on its own database with the bench licensee."""
    # 50 clients on one address: the per-address message limit is raised with the others.
    env = server_env(tmp, {**RAISED_LIMITS, "KEFU_RATE_ADDRESS_MESSAGES": "1000000/s"})
    for name in ("KEFU_MODEL_BASE_URL", "KEFU_MODEL_NAME", "KEFU_MODEL_API_KEY"):
        env.pop(name, None)  # the built-in answerer: the same answer on both paths
    info = create_licensee_cli(env, kefu=tree.kefu)
    import_demo_kb(env, info["id"], kefu=tree.kefu)
    port = free_port()
    proc = start_server(env, port, kefu=tree.kefu)
    stack.callback(stop_server, proc)
    return Target(tree.label, proc.pid, port, info["site_key"], info["secret_key"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--old-ref", default="main", help="git ref of the old code")
    parser.add_argument(
        "--old-tree",
        type=Path,
        help="the old code's tree with its .venv (made from --old-ref if missing)",
    )
    parser.add_argument("--new-only", action="store_true", help="no old code beside the new")
    args = parser.parse_args()
    trees = [this_tree()]
    if not args.new_only:
        path = args.old_tree or default_path(args.old_ref)
        trees.insert(0, ref_tree(path.resolve(), args.old_ref, "old"))
    with ExitStack() as stack:
        targets = [
            serve(
                tree, stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-bench-")), stack
            )
            for tree in trees
        ]
        gc.disable()  # the load generator's collector pauses would count as server time
        figures = asyncio.run(run(args, targets))
    figures["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    python = f"Python {platform.python_version()}"
    figures["machine"] = f"{platform.machine()}, {python}, {load_average()}"
    figures["clients"] = args.clients
    print(json.dumps(figures, indent=2))
    for target in targets:
        mine = figures[target.label]
        verdict = "PASS" if mine["passed"] else "FAIL"
        print(
            f"{target.label}: added to the first chunk, p50 {mine['added_p50_ms']} ms, "
            f"p99 {mine['added_p99_ms']} ms (target <= 5 ms): {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
