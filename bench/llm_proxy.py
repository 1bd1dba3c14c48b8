"""The time Kefu adds around a streaming model, beside LiteLLM's proxy, in one run.

Both sit in front of the same fake OpenAI-compatible model (bench/llm_overhead.py's, in a
process of its own, on loopback), which streams every answer as marked pieces and records when
each request arrived and each piece left. At each concurrency (``--streams``, conversations
streaming at once against one `kefu serve` worker, and the same number of streaming requests
against one LiteLLM proxy process):

(a) request: the fake's arrival time of the model request - the client's send time (Kefu: of the
    chat message; LiteLLM: of the HTTP request);
(b) token -> frame: the client's arrival time of a piece - the fake's send time of it (Kefu: the
    frame that releases the piece, as bench/llm_overhead.py maps it through the server's content
    guards; LiteLLM: the streamed chunk that carries it).

Both include the client's and the fake's share. LiteLLM needs the bench extra
(``pip install -e '.[bench]'``, which brings ``litellm[proxy]``); it runs with its cost map read
from the package (``LITELLM_LOCAL_MODEL_COST_MAP``) and without telemetry: nothing leaves the
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import llm_overhead
from common import (
    RAISED_LIMITS,
    bench_server,
    die_with_parent,
    free_port,
    kill_all,
    load_average,
    pct,
    proc_cpu_seconds,
    questions,
    spawn_child,
    wait_accept,
)

MARK = re.compile(r"\[a(\d+)p(\d+)\] ")
MASTER_KEY = f"sk-{secrets.token_hex(32)}"


def litellm_command() -> list[str] | None:
    """The proxy's command: beside this Python, else on the PATH."""
    here = Path(sys.executable).parent / "litellm"
    found = str(here) if here.exists() else shutil.which("litellm")
    return [found] if found else None


@contextlib.contextmanager
def litellm_proxy(base_url: str, model: str, workdir: Path) -> Any:
    command = litellm_command()
    if command is None:
        raise RuntimeError("litellm is not installed: pip install -e '.[bench]'")
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {base_url}\n"
        "      api_key: x\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the cost map
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "NO_PROXY": "*",
        "LITELLM_MASTER_KEY": MASTER_KEY,  # it refuses to start open
    }
    log = (workdir / "litellm.log").open("wb")
    proc = subprocess.Popen(
        [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        wait_accept(proc, port, time.monotonic() + 120)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        kill_all([proc])  # type: ignore[list-item]
        log.close()


async def litellm_pass(
    url: str, model: str, streams: int, warmup: float, window: float, think: float, seed: int
) -> list[dict[str, Any]]:
    """``streams`` clients asking back to back through the proxy; what each saw when."""
    qs = questions()
    rng = random.Random(seed)
    start = time.monotonic()
    w0, w1 = start + warmup, start + warmup + window
    out: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    async with httpx.AsyncClient(
        timeout=60, limits=limits, trust_env=False, headers=auth
    ) as client:

        async def user(u: int) -> None:
            await asyncio.sleep(rng.random())
            k = 0
            while time.monotonic() <= w1:
                k += 1
                tag = f"q9-{u}-{k}"
                text, _ = rng.choice(qs)
                body = {
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": f"[{tag}] {text}"}],
                }
                rec: dict[str, Any] = {"tag": tag, "pieces": {}, "sent": time.monotonic()}
                seen = ""
                async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                    r.raise_for_status()
                    async for line in r.aiter_lines():
                        now = time.monotonic()
                        if not line.startswith("data: ") or line == "data: [DONE]":
                            continue
                        chunk = json.loads(line[6:])
                        for choice in chunk.get("choices") or []:
                            seen += (choice.get("delta") or {}).get("content") or ""
                        for m in MARK.finditer(seen):
                            rec["pieces"].setdefault(int(m.group(2)), now)
                rec["end"] = time.monotonic()
                if w0 <= rec["sent"] <= w1:
                    out.append(rec)
                await asyncio.sleep(rng.random() * 2 * think)

        await asyncio.gather(*(user(u) for u in range(streams)))
    return out


def litellm_figures(recs: list[dict[str, Any]], calls: list[dict[str, Any]]) -> dict[str, Any]:
    by_tag = {row["tag"]: row for row in calls if row["tag"]}
    request, frames = [], []
    for rec in recs:
        call = by_tag.get(rec["tag"])
        if call is None:
            continue
        request.append((call["received_at"] - rec["sent"]) * 1000)
        for i, at in rec["pieces"].items():
            if i < len(call["sent"]):
                frames.append((at - call["sent"][i]) * 1000)
    return {"request": request, "frames_all": frames, "answers": len(recs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="20,100", help="concurrent streams, per worker")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--pieces", type=int, default=30)
    parser.add_argument("--first-token-delay", type=float, default=0.3)
    parser.add_argument("--token-delay", type=float, default=0.05)
    parser.add_argument("--think", type=float, default=0.05)
    parser.add_argument("--clients", type=int, default=1, help="Kefu's client processes")
    args = parser.parse_args()
    print(
        "Time added around a streaming model: one `kefu serve` worker (SQLite) and one LiteLLM "
        "proxy process, in front of one fake OpenAI-compatible model on loopback, one run."
    )
    print(
        f"Fake: first token after {args.first_token_delay * 1000:g} ms, {args.pieces} pieces "
        f"{args.token_delay * 1000:g} ms apart; {args.warmup:g} s warm-up + {args.window:g} s "
        "window per pass; questions back to back."
    )
    print(f"At start: {load_average()}")
    fake = spawn_child(
        llm_overhead.__file__,
        [
            "--role",
            "fake",
            "--first-token-delay",
            repr(args.first_token_delay),
            "--token-delay",
            repr(args.token_delay),
            "--pieces",
            str(args.pieces),
        ],
        stdin=True,
    )
    rows: list[tuple[int, str, dict[str, Any], float, str]] = []
    try:
        assert fake.stdout is not None
        info = json.loads(fake.stdout.readline())
        model_env = {
            **RAISED_LIMITS,
            "KEFU_MODEL_PROVIDER": "openai",
            "KEFU_MODEL_BASE_URL": info["base_url"],
            "KEFU_MODEL_NAME": info["model"],
            "KEFU_MODEL_API_KEY": "x",
        }
        with (
            tempfile.TemporaryDirectory(prefix="kefu-llm-proxy-") as tmp,
            bench_server(model_env, demo_kb=True) as server,
            litellm_proxy(info["base_url"], info["model"], Path(tmp)) as (proxy, proxy_url),
        ):
            llm_overhead.warm(server.chat_url)
            asyncio.run(litellm_pass(proxy_url, info["model"], 2, 0, 2, 0, 0))  # warm
            for pass_id, streams in enumerate(int(s) for s in args.streams.split(",")):
                kefu_args = argparse.Namespace(
                    first_token_delay=args.first_token_delay,
                    pieces=args.pieces,
                    think=args.think,
                    conversations=streams,
                    clients=args.clients,
                    setup=3.0,
                    warmup=args.warmup,
                    window=args.window,
                )
                r = llm_overhead.one_pass(
                    kefu_args, server.chat_url, server.pid, fake, 10 + pass_id, args.token_delay
                )
                rows.append((streams, "Kefu", r, r["server_util"], load_average()))
                llm_overhead.fake_command(fake, {"cmd": "dump"})
                cpu0 = proc_cpu_seconds(proxy.pid)
                recs = asyncio.run(
                    litellm_pass(
                        proxy_url,
                        info["model"],
                        streams,
                        args.warmup,
                        args.window,
                        args.think,
                        pass_id,
                    )
                )
                busy = (proc_cpu_seconds(proxy.pid) - cpu0) / (args.warmup + args.window)
                calls = llm_overhead.fake_command(fake, {"cmd": "dump"})
                rows.append(
                    (streams, "LiteLLM", litellm_figures(recs, calls), busy, load_average())
                )
                for got in rows[-2:]:
                    print(f"  {got[0]} streams, {got[1]}: {len(got[2]['request'])} answers")
    finally:
        if fake.stdin is not None:
            fake.stdin.close()
        kill_all([fake])
    print(
        "\n| streams | server | answers | (a) request p50 | (a) p99 | (b) token->frame p50 "
        "| (b) p99 | server CPU (cores) | load average |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for streams, name, r, util, load in rows:
        a, b = r["request"], r["frames_all"]
        print(
            f"| {streams} | {name} | {len(a)} | {pct(a, 0.5):.2f} ms | {pct(a, 0.99):.2f} ms "
            f"| {pct(b, 0.5):.2f} ms | {pct(b, 0.99):.2f} ms | {util:.2f} | {load} |"
        )
    print(f"At end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
