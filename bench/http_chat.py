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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import tempfile
import time
from typing import Any

import httpx
from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    create_licensee_cli,
    free_port,
    import_demo_kb,
    load_average,
    pct,
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


async def http_round(client: httpx.AsyncClient, user: str, text: str) -> float:
    body = {
        "model": "kefu",
        "user": user,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    sent = time.perf_counter()
    first: float | None = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(await response.aread())
        async for line in response.aiter_lines():
            piece = '"content":"' in line and '"content":""' not in line
            if first is None and piece and line.startswith("data: {"):
                first = time.perf_counter() - sent
            if line == "data: [DONE]":
                break
    assert first is not None
    return first


async def run(
    args: argparse.Namespace, port: int, site_key: str, secret_key: str
) -> dict[str, Any]:
    qs = [q for q, _ in questions()]
    url = f"ws://127.0.0.1:{port}/v1/chat?key={site_key}"
    sockets = [
        s for s, _ in await asyncio.gather(*(ws_client(url, n, qs) for n in range(args.clients)))
    ]
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {secret_key}"},
            timeout=60,
            limits=httpx.Limits(max_connections=1),
        )
        for _ in range(args.clients)
    ]
    samples: dict[str, list[float]] = {"websocket": [], "http": []}
    counter = 0

    async def ws_block(keep: bool) -> None:
        nonlocal counter

        async def one(n: int) -> None:
            nonlocal counter
            for r in range(args.rounds):
                counter += 1
                took = await ws_round(sockets[n], f"m{counter}", qs[(n + r) % len(qs)])
                if keep:
                    samples["websocket"].append(took)

        await asyncio.gather(*(one(n) for n in range(args.clients)))

    async def http_block(keep: bool) -> None:
        async def one(n: int) -> None:
            for r in range(args.rounds):
                took = await http_round(clients[n], f"bench-user-{n}", qs[(n + r) % len(qs)])
                if keep:
                    samples["http"].append(took)

        await asyncio.gather(*(one(n) for n in range(args.clients)))

    try:
        await ws_block(keep=False)
        await http_block(keep=False)
        for _ in range(args.blocks):
            await ws_block(keep=True)
            await http_block(keep=True)
    finally:
        for socket in sockets:
            await socket.close()
        for client in clients:
            await client.aclose()
    figures: dict[str, Any] = {}
    for name, values in samples.items():
        figures[name] = {
            "samples": len(values),
            "p50_ms": round(pct(values, 0.50) * 1000, 2),
            "p99_ms": round(pct(values, 0.99) * 1000, 2),
        }
    figures["added_p50_ms"] = round(figures["http"]["p50_ms"] - figures["websocket"]["p50_ms"], 2)
    figures["added_p99_ms"] = round(figures["http"]["p99_ms"] - figures["websocket"]["p99_ms"], 2)
    figures["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    figures["passed"] = figures["added_p99_ms"] <= TARGET_ADDED_P99_MS
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
        # 50 clients on one address: the per-address message limit is raised with the others.
        env = server_env(tmp, {**RAISED_LIMITS, "KEFU_RATE_ADDRESS_MESSAGES": "1000000/s"})
        for name in ("KEFU_MODEL_BASE_URL", "KEFU_MODEL_NAME", "KEFU_MODEL_API_KEY"):
            env.pop(name, None)  # the built-in answerer: the same answer on both paths
        info = create_licensee_cli(env)
        import_demo_kb(env, info["id"])
        port = free_port()
        proc = start_server(env, port)
        gc.disable()  # the load generator's collector pauses would count as server time
        try:
            figures = asyncio.run(run(args, port, info["site_key"], info["secret_key"]))
        finally:
            stop_server(proc)
    python = f"Python {platform.python_version()}"
    figures["machine"] = f"{platform.machine()}, {python}, {load_average()}"
    figures["clients"] = args.clients
    print(json.dumps(figures, indent=2))
    verdict = "PASS" if figures["passed"] else "FAIL"
    print(f"added to the first chunk, p99 {figures['added_p99_ms']} ms (target <= 5 ms): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
