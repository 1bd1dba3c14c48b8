"""Time the chat server adds around a streaming model: message -> model request, token -> frame.

A fake OpenAI-compatible model (testkit/providers.py) runs in a process of its own and streams
every answer as ``--pieces`` pieces, each a unique marker such as ``[a00017p05] `` (answer 17,
piece 5), after a fixed time to first token. It records when each request arrived and when each
piece left; the chat clients record when each message left and when each frame arrived.
``time.monotonic()`` is one system-wide clock on Linux, so the processes' times compare.

(a) message -> model request: the fake's arrival time of the request whose last user message
    carries the question's tag, minus the client's send time of that question.
(b) token -> frame: for every reply.delta frame, its arrival at the client minus the fake's send
    time of the latest piece whose text the frame completes. The content filter and the leak
    guard hold back the last ~24 characters of what the model said until later text arrives, so
    the frame a piece's arrival sends ends a few pieces back; the bench maps each frame's end to
    the piece that released it by feeding the same pieces through the server's own guards
    (and checks that every frame ends where the guards say). Frames sent when the stream ends
    (the held tail) count from the last piece. The per-piece delay (a piece's first appearance
    at the client minus its send time) is printed too, for information: it includes the holds.

Two passes: pieces slower than the 40 ms coalescing window (every frame is caused by a piece's
arrival), then faster ones ("with coalescing": a frame may wait for the window to close).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import (
    HELLO,
    ORIGIN,
    RAISED_LIMITS,
    add_client_arguments,
    bench_server,
    client_processes,
    exit_on_sigterm,
    has_builtin_answerer,
    kill_all,
    load_average,
    mount_of,
    pct,
    questions,
    run_client,
    run_visitors,
    spawn_child,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

TARGET_MS = 5.0
MODEL_PRODUCER = "openai-compatible"  # ai.producer of an answer an OpenAI-compatible model wrote
TAG = re.compile(r"^\[(q\d+-\d+-\d+)\]")
ANSWER = re.compile(r"^\[a(\d+)p\d+\]")


def piece_texts(answer: int, n: int) -> list[str]:
    """The pieces the fake streams for its ``answer``-th call: one unique marker each."""
    return [f"[a{answer:05d}p{i:02d}] " for i in range(n)]


# ---------------------------------------------------------------- fake model process


def run_fake(args: argparse.Namespace) -> int:
    """Serve the fake model; print its address; obey JSON commands on stdin (pacing, dump)."""
    from testkit.providers import FakeOpenAI, Request, Responder, Script

    class MarkedFake(FakeOpenAI):
        """Every chat completion gets a script of its own: fresh markers, current pacing."""

        def __init__(self) -> None:
            super().__init__()
            self.pacing = (args.first_token_delay, args.token_delay, args.pieces)
            self.answers = 0

        async def handle(self, request: Request, out: Responder) -> bool:
            if request.method == "POST" and request.path == "/v1/chat/completions":
                # The base class takes ``default`` for the call before its first await.
                self.answers += 1
                ttft, delay, n = self.pacing
                self.default = Script(
                    pieces=piece_texts(self.answers, n),
                    first_token_delay=ttft,
                    token_delay=delay,
                )
            return await super().handle(request, out)

    fake = MarkedFake().start()
    try:
        print(json.dumps({"base_url": fake.base_url, "model": fake.default_model}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "pacing":
                fake.pacing = (cmd["ttft"], cmd["delay"], cmd["pieces"])
                print('"ok"', flush=True)
            elif cmd["cmd"] == "dump":
                calls = list(fake.calls)
                fake.clear()
                rows = []
                for call in calls:
                    users = call.texts("user")
                    tag = TAG.match(users[-1]) if users else None
                    pieces = call.script.pieces if call.script is not None else None
                    answer = ANSWER.match(pieces[0]) if pieces else None
                    rows.append(
                        {
                            "tag": tag.group(1) if tag else None,
                            "answer": int(answer.group(1)) if answer else None,
                            "n": len(pieces or ()),
                            "received_at": call.received_at,
                            "sent": call.piece_sent_at,
                        }
                    )
                print(json.dumps(rows), flush=True)
    finally:
        fake.stop()
    return 0


def fake_command(fake: subprocess.Popen[str], cmd: dict[str, Any]) -> Any:
    assert fake.stdin is not None and fake.stdout is not None
    fake.stdin.write(json.dumps(cmd) + "\n")
    fake.stdin.flush()
    line = fake.stdout.readline()
    if not line:
        raise RuntimeError("the fake model process ended")
    return json.loads(line)


# ---------------------------------------------------------------- client process


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    qs = questions()
    rng = random.Random(args.seed)
    w0 = args.start_at + args.warmup
    w1 = w0 + args.window
    answers: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    counts: Counter[str] = Counter()

    async def user(u: int, ws: ClientConnection) -> None:
        # Spread the conversations over one answer's length, so that they do not move in step.
        first = args.start_at + rng.random() * args.cycle
        await asyncio.sleep(max(0.0, first - time.monotonic()))
        k = 0
        while time.monotonic() <= w1:
            k += 1
            text, _ = rng.choice(qs)
            tag = f"q{args.pass_id}-{u}-{k}"
            frame = json.dumps(
                {"type": "message", "id": f"m{k}", "text": f"[{tag}] {text}"},
                ensure_ascii=False,
            )
            rec: dict[str, Any] = {"tag": tag, "frames": [], "restarts": 0}
            offset = 0
            rec["sent"] = time.monotonic()
            await ws.send(frame)
            while True:
                raw = await asyncio.wait_for(ws.recv(), 30)
                now = time.monotonic()
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "reply.delta":
                    offset += len(msg["text"])
                    rec["frames"].append((now, offset))
                elif kind == "ack":
                    rec["ack"] = now
                elif kind == "reply.start":
                    rec["start"] = now
                elif kind == "reply.restart":
                    rec["restarts"] += 1
                    offset = 0
                elif kind == "reply.end":
                    rec["end"] = now
                    rec["text"] = msg.get("text", "")
                    rec["producer"] = (msg.get("ai") or {}).get("producer", "?")
                    break
                elif kind == "error":
                    errors[f"error:{msg.get('code', '?')}"] += 1
                    rec["error"] = msg.get("code", "?")
                    break
                else:
                    counts[f"other frame: {kind}"] += 1
            if w0 <= rec["sent"] <= w1:
                answers.append(rec)
            if "end" in rec and w0 <= rec["end"] <= w1:
                counts["ended_in_window"] += 1
            if "error" in rec:
                return
            if args.think:
                await asyncio.sleep(rng.random() * 2 * args.think)

    cpu = await run_visitors(args.url, args.first_user, args.users, rng, qs, errors, counts, user)
    return {
        "answers": answers,
        "errors": dict(errors),
        "counts": dict(counts),
        "cpu": cpu,
    }


# ---------------------------------------------------------------- what the server shows when


_releases: dict[tuple[str, ...], tuple[list[int], set[int]]] = {}


def release_offsets(pieces: list[str]) -> tuple[list[int], set[int]]:
    """How much of the answer the server may show after each piece arrives, and the ends it may
    show when the stream ends (the leak guard's tail through the filter, then the filter's): the
    pieces fed through the leak guard, then the content filter, as the server does."""
    shape = tuple(re.sub(r"\d", "0", p) for p in pieces)
    found = _releases.get(shape)
    if found is None:
        from bot.llm.guard import LeakGuard
        from core.moderation.matcher import Matcher, StreamGuard, load_word_list

        words = os.environ.get("KEFU_FILTER_WORDS_FILE")
        flt = StreamGuard(Matcher(load_word_list(Path(words) if words else None)))
        leak = LeakGuard()
        shown = 0
        per_piece = []
        for piece in pieces:
            shown += len(flt.feed(leak.feed(piece)))
            per_piece.append(shown)
        shown += len(flt.feed(leak.flush()))
        ends = {shown, shown + len(flt.finish())}
        found = (per_piece, ends)
        _releases[shape] = found
    return found


# ---------------------------------------------------------------- orchestration


def warm(url: str, rounds: int = 3) -> Counter[str]:
    """A few answered questions (LangChain imported, index built, connections open); the
    producers that answered them."""
    from websockets.sync.client import connect

    producers: Counter[str] = Counter()
    with connect(url, origin=ORIGIN, compression=None, open_timeout=10) as ws:
        ws.send(HELLO)
        ws.recv(timeout=10)
        for i in range(rounds):
            ws.send(json.dumps({"type": "message", "id": f"warm{i}", "text": "怎么取消订单？"}))
            while True:
                msg = json.loads(ws.recv(timeout=60))
                if msg["type"] == "reply.end":
                    producers[msg["ai"]["producer"]] += 1
                    break
                if msg["type"] == "error":
                    producers[f"error {msg.get('code')}"] += 1
                    break
    return producers


def one_pass(
    args: argparse.Namespace,
    url: str,
    server_pid: int,
    fake: subprocess.Popen[str],
    pass_id: int,
    delay: float,
) -> dict[str, Any]:
    ttft, n = args.first_token_delay, args.pieces
    fake_command(fake, {"cmd": "pacing", "ttft": ttft, "delay": delay, "pieces": n})
    fake_command(fake, {"cmd": "dump"})  # forget earlier calls
    cycle = ttft + delay * (n - 1) + args.think
    run = client_processes(
        __file__,
        url,
        args.conversations,
        args.clients,
        start_at=time.monotonic() + args.setup,
        warmup=args.warmup,
        window=args.window,
        seed=pass_id,
        extra=[
            "--role",
            "client",
            "--cycle",
            repr(cycle),
            "--think",
            repr(args.think),
            "--pass-id",
            str(pass_id),
        ],
        watch=[server_pid, fake.pid],
        grace=60 + 2 * cycle,
    )
    calls = fake_command(fake, {"cmd": "dump"})
    r = analyse(run.outs, calls, args.window)
    server_cpu, fake_cpu = run.cpu
    ended = max(r["ended_in_window"], 1)
    r.update(
        server_cpu_ms=server_cpu / ended * 1000,
        server_util=server_cpu / args.window,
        fake_util=fake_cpu / args.window,
        client_util=run.clients_cpu / args.window,
        other_util=max(0.0, run.busy_cpu - server_cpu - fake_cpu - run.clients_cpu) / args.window,
        load=run.load,
        delay=delay,
        fake_answer_s=ttft + delay * (n - 1),
    )
    return r


def analyse(
    outs: list[dict[str, Any]], calls: list[dict[str, Any]], window: float
) -> dict[str, Any]:
    by_tag: dict[str, dict[str, Any]] = {}
    for row in calls:
        if row["tag"] and row["tag"] not in by_tag:
            by_tag[row["tag"]] = row
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    request: list[float] = []  # (a) message -> model request
    to_ack: list[float] = []  # message -> ack (the durable write comes before the ack)
    ack_to_request: list[float] = []
    mid: list[float] = []  # (b) frames released by a piece's arrival
    tail: list[float] = []  # (b) frames released when the stream ended
    per_piece: list[float] = []  # information: piece sent -> its marker complete at the client
    busy = 0.0  # seconds of answering, summed (Little's law: conversations waiting on a reply)
    pieces_sent = 0
    for out in outs:
        counts.update(out["counts"])
        errors.update(out["errors"])
        for ans in out["answers"]:
            counts["asked"] += 1
            counts["restarts"] += ans["restarts"]
            if "end" not in ans:
                continue
            counts["completed"] += 1
            busy += ans["end"] - ans["sent"]
            if ans.get("producer") != MODEL_PRODUCER:
                counts["not_from_model"] += 1
            if "ack" in ans:
                to_ack.append(ans["ack"] - ans["sent"])
            call = by_tag.get(ans["tag"])
            if call is None:
                counts["no_model_request"] += 1
                continue
            request.append(call["received_at"] - ans["sent"])
            if "ack" in ans:
                ack_to_request.append(call["received_at"] - ans["ack"])
            pieces = piece_texts(call["answer"], call["n"])
            sent = call["sent"]
            pieces_sent += len(sent)
            if ans["restarts"] or ans["text"] != "".join(pieces) or len(sent) != len(pieces):
                counts["not_attributed"] += 1  # not the answer the fake streamed, whole
                continue
            releases, ends = release_offsets(pieces)
            for at, end in ans["frames"]:
                counts["frames"] += 1
                if end <= releases[-1]:
                    k = bisect.bisect_left(releases, end)
                    if releases[k] != end:
                        counts["misaligned"] += 1
                    mid.append(at - sent[k])
                else:
                    if end not in ends:
                        counts["misaligned"] += 1
                    tail.append(at - sent[-1])  # the stream's end follows the last piece at once
            frames = ans["frames"]
            j = 0
            start = 0
            for i, piece in enumerate(pieces):
                marker_end = start + len(piece.rstrip())
                start += len(piece)
                while j < len(frames) and frames[j][1] < marker_end:
                    j += 1
                if j < len(frames):
                    per_piece.append(frames[j][0] - sent[i])
    ms = 1000.0
    return {
        "request": [v * ms for v in request],
        "to_ack": [v * ms for v in to_ack],
        "ack_to_request": [v * ms for v in ack_to_request],
        "mid": [v * ms for v in mid],
        "tail": [v * ms for v in tail],
        "frames_all": [v * ms for v in mid + tail],
        "per_piece": [v * ms for v in per_piece],
        "counts": counts,
        "errors": errors,
        "ended_in_window": counts["ended_in_window"],
        "streaming": busy / window,
        "answer_s": busy / max(counts["completed"], 1),
        "pieces_per_s": pieces_sent / window,
    }


def line(name: str, values: list[float], target: float | None) -> str:
    text = (
        f"{name:<44} n={len(values):>7,}  p50 {pct(values, 0.5):7.2f}  p90 {pct(values, 0.9):7.2f}"
        f"  p99 {pct(values, 0.99):7.2f}  max {max(values, default=float('nan')):8.2f} ms"
    )
    if target is not None:
        ok = bool(values) and pct(values, 0.99) <= target
        text += f"  target p99 <= {target:g} ms  {'PASS' if ok else 'FAIL'}"
    return text


def report(label: str, r: dict[str, Any], args: argparse.Namespace) -> None:
    c = r["counts"]
    print(f"\n[{label}] pieces every {r['delay'] * 1000:g} ms")
    print("  " + line("(a) message -> model request", r["request"], TARGET_MS))
    print("  " + line("(b) token -> frame", r["frames_all"], TARGET_MS))
    print("      of which:")
    print("        " + line("frames a piece's arrival released", r["mid"], None))
    print("        " + line("frames sent when the stream ended", r["tail"], None))
    print("        " + line("(a) part 1: message -> ack (durable write)", r["to_ack"], None))
    print("        " + line("(a) part 2: ack -> model request", r["ack_to_request"], None))
    print(
        "  "
        + line("information: per-piece delay (holds incl.)", r["per_piece"], None)
        + "  (includes the deliberate holds)"
    )
    print(
        f"      answers completed {c['completed']:,} of {c['asked']:,} asked in the window "
        f"({c['ended_in_window']:,} ended in it, {c['ended_in_window'] / args.window:,.1f}/s); "
        f"not from the model {c['not_from_model']}; reply.restart frames {c['restarts']}; "
        f"errors {dict(r['errors']) or 0}"
    )
    per_core = 1000 / max(r["server_cpu_ms"], 1e-9)
    print(
        f"      message -> reply.end takes {r['answer_s']:.2f} s on average (the fake model alone "
        f"{r['fake_answer_s']:.2f} s); at the server's CPU per answer one fully available core "
        f"answers at most {per_core:,.0f}/s, i.e. carries about "
        f"{per_core * (r['fake_answer_s'] + args.think):,.0f} such conversations"
    )
    print(
        f"      conversations ready {c['ready']}, waiting on a reply on average "
        f"{r['streaming']:.0f}; model pieces sent {r['pieces_per_s']:,.0f}/s; delta frames "
        f"{c['frames']:,}; frames not ending where the guards release {c['misaligned']}; "
        f"answers not attributable {c['not_attributed']}; without a model request "
        f"{c['no_model_request']}"
    )
    others = {k: v for k, v in c.items() if k.startswith("other frame")}
    if others:
        print(f"      other frames: {others}")
    print(
        f"      server CPU {r['server_cpu_ms']:.2f} ms per answer; cores busy in the window: "
        f"server {r['server_util']:.2f}, fake model {r['fake_util']:.2f}, clients "
        f"{r['client_util']:.2f}, other processes {r['other_util']:.2f} (of {os.cpu_count()}); "
        f"{r['load']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_client_arguments(parser)
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cycle", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--pass-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each window")
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds per pass")
    parser.add_argument("--setup", type=float, default=4.0, help="seconds to connect everyone")
    parser.add_argument("--pieces", type=int, default=30, help="pieces per answer")
    parser.add_argument(
        "--first-token-delay", type=float, default=0.3, help="fake's time to first token (s)"
    )
    parser.add_argument(
        "--token-delay", type=float, default=0.05, help="seconds between pieces (first pass)"
    )
    parser.add_argument(
        "--coalesced-delay",
        type=float,
        default=0.015,
        help="seconds between pieces in the 'with coalescing' pass (0 skips it)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.05,
        help="mean pause (s) between a reply.end and the next question, drawn uniformly",
    )
    args = parser.parse_args()
    exit_on_sigterm()
    if args.child:
        return run_fake(args) if args.role == "fake" else run_client(partial(client_main, args))

    from run_all import machine

    t_start = time.monotonic()
    print(
        f"LLM overhead: {args.conversations} streaming conversations on one `kefu serve` "
        f"(SQLite, default settings, demo KB), {args.clients} client processes, against a fake "
        "OpenAI-compatible model in a process of its own."
    )
    print(
        f"Fake model: time to first token {args.first_token_delay * 1000:g} ms, {args.pieces} "
        f"pieces per answer. Each pass: {args.warmup:g} s warm-up + {args.window:g} s window; "
        f"questions back to back (pause 0-{2 * args.think * 1000:g} ms). Rate limits raised."
    )
    print(f"Machine: {machine()}; database on {mount_of(tempfile.gettempdir())[1]}")
    print(f"At start: {load_average()}")
    print(f"Targets: p99 <= {TARGET_MS:g} ms for (a) and for (b), in every pass.")
    print(
        "(a) = model request arrival at the fake - question sent by the client. (b) = delta frame "
        "received - send time of the piece whose arrival released the frame's last character "
        "(the content filter and leak guard hold back the last ~2-3 pieces; the bench replays "
        "the pieces through the server's own guards to find that piece; frames sent when the "
        "stream ends count from the last piece). Both include the client's and fake's share."
    )
    if not has_builtin_answerer():
        print("  skipped: the built-in answerer is not there yet")
        print(f"  (a) and (b): target p99 <= {TARGET_MS:g} ms  FAIL (not measured)")
        return 0

    passes = [("pass 1, no coalescing", args.token_delay)]
    if args.coalesced_delay:
        passes.append(("pass 2, with coalescing", args.coalesced_delay))
    results: list[tuple[str, dict[str, Any]]] = []
    fake = spawn_child(
        __file__,
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
    try:
        assert fake.stdout is not None
        info = json.loads(fake.stdout.readline())
        limits = {
            **RAISED_LIMITS,
            "KEFU_MODEL_PROVIDER": "openai",
            "KEFU_MODEL_BASE_URL": info["base_url"],
            "KEFU_MODEL_NAME": info["model"],
            "KEFU_MODEL_API_KEY": "x",
        }
        with bench_server(limits, demo_kb=True) as server:
            producers = warm(server.chat_url)
            print(f"Warm-up questions answered by: {dict(producers)}")
            for pass_id, (label, delay) in enumerate(passes, 1):
                r = one_pass(args, server.chat_url, server.pid, fake, pass_id, delay)
                results.append((label, r))
                report(label, r, args)
    except Exception as exc:
        print(f"  run failed: {type(exc).__name__}: {exc}")
    finally:
        if fake.stdin is not None:
            fake.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            fake.wait(10)
        kill_all([fake])

    print("\nSummary")
    measured = dict(results)
    for label, _ in passes:
        got = measured.get(label)
        if got is None:
            print(f"  [{label}] not measured  FAIL")
            continue
        print(f"  [{label}]")
        print("    " + line("(a) message -> model request", got["request"], TARGET_MS))
        print("    " + line("(b) token -> frame", got["frames_all"], TARGET_MS))
    print(f"At end: {load_average()}")
    print(f"Run time {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
