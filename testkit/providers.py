"""Fake model providers for tests and benchmarks: real HTTP servers on 127.0.0.1.

``FakeOpenAI`` speaks the OpenAI chat-completions API (SSE streaming with ``data: [DONE]`` and
the ``stream_options.include_usage`` usage chunk); ``FakeOllama`` speaks Ollama's ``/api/chat``
(NDJSON streaming, final object with ``done: true`` and token counts). Both run an asyncio server
in a thread of their own, record every request, and answer as scripted:

    with FakeOpenAI() as fake:
        fake.script("gpt-slow", Script(first_token_delay=2.0))     # every call to one model
        fake.enqueue(Script(status=500))                           # the next call, any model
        answerer = ModelAnswerer(fake.spec("gpt-slow", first_token_timeout=0.5))
        ...
        call = fake.calls[-1]   # the request body and the usage the fake reported

A subclass may override ``handle`` (one ``Request`` in, written through a ``Responder``) to
answer each call its own way, as the model-overhead benchmark does.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from bot.answerers.contract import Answerer, AnswerEvent, AnswerRequest, Delta, Final, Restart
from bot.llm.backends import BackendSpec, Provider

DEFAULT_REPLY = "Hello! This is the fake model speaking."
# CJK text is cut two characters at a time; anything else a word (with its leading space) at a time.
_CJK = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(rf"[{_CJK}]{{1,2}}|\s*[^\s{_CJK}]+|\s+")


def tokens(text: str) -> list[str]:
    """``text`` cut into the pieces a fake streams; they join back to exactly ``text``."""
    return _TOKEN.findall(text)


@dataclass
class Answer:
    """Everything one answerer streamed for one request."""

    events: list[AnswerEvent]

    @property
    def final(self) -> Final:
        last = self.events[-1]
        assert isinstance(last, Final), f"the last event is {last!r}"
        return last

    @property
    def text(self) -> str:
        """The answer as the end user finally sees it (what follows the last Restart)."""
        shown: list[str] = []
        for event in self.events:
            if isinstance(event, Restart):
                shown.clear()
            elif isinstance(event, Delta):
                shown.append(event.text)
        return "".join(shown)

    @property
    def restarts(self) -> list[Restart]:
        return [e for e in self.events if isinstance(e, Restart)]


async def collect(answerer: Answerer, request: AnswerRequest) -> Answer:
    return Answer([event async for event in answerer.stream(request)])


@dataclass(frozen=True)
class Script:
    """How a fake answers one call."""

    reply: str = DEFAULT_REPLY
    pieces: Sequence[str] | None = None  # the reply as streamed; default tokens(reply)
    first_token_delay: float = 0.0  # seconds from the response headers to the first content
    token_delay: float = 0.0  # seconds between two content pieces
    input_tokens: int | None = None  # default: a count derived from the request's size
    output_tokens: int | None = None  # default: the number of pieces
    cached_tokens: int = 0  # OpenAI only: prompt_tokens_details.cached_tokens
    model: str | None = None  # the model the fake says answered; default the one asked for
    status: int = 200  # 400 or more: an error response instead of an answer
    error: str = "The server had an error while processing your request."
    retired: bool = False  # 404, the provider's "no such model" (OpenAI: model_not_found)
    cut_after: int | None = None  # close the connection after this many content pieces
    stall_after: int | None = None  # send nothing more after this many pieces (and never end)
    malformed_after: int | None = None  # send a chunk that is not JSON after this many pieces
    finish: bool = True  # False: the stream ends without finish_reason / done
    echo_system: bool = False  # reply with the request's system prompt instead


@dataclass
class Call:
    """One request a fake received, and what it reported back."""

    path: str
    body: dict[str, Any]
    received_at: float  # time.monotonic()
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    connection: int = 0  # which TCP connection it came on: 1 for the fake's first, and so on
    model: str = ""
    script: Script | None = None
    reported_model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    pieces_sent: int = 0
    # time.monotonic() just after each content piece was written and flushed, in order
    piece_sent_at: list[float] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return list(messages) if isinstance(messages, list) else []

    @property
    def system(self) -> str:
        """The text of the system messages of the request."""
        return "\n".join(_text(m) for m in self.messages if m.get("role") == "system")

    def texts(self, role: str) -> list[str]:
        return [_text(m) for m in self.messages if m.get("role") == role]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@dataclass
class Request:
    """One HTTP request as the fake read it (header names in lower case, no query string)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int = 0  # which TCP connection it came on: 1 for the fake's first, and so on


class Responder:
    """Writes one HTTP/1.1 response: a whole JSON body, or a chunked stream."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        )
        self._writer.write(head.encode() + data)
        await self._writer.drain()

    async def start_stream(self, content_type: str) -> None:
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"content-type: {content_type}\r\n"
            "cache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\n\r\n"
        )
        self._writer.write(head.encode())
        await self._writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        self._writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self._writer.drain()

    async def end_stream(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()

    def cut(self) -> None:
        """Close the connection in the middle of the body (no terminating chunk)."""
        self._writer.close()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


class _FakeServer:
    """An asyncio HTTP/1.1 server (keep-alive, chunked responses) in a thread of its own that
    answers as a model provider: a subclass says how the provider words its answers."""

    default_model = "fake-model"
    provider: Provider = "openai"
    base_path = ""  # base_url: the server's address and this
    models_path = ""  # GET: the models served
    chat_path = ""  # POST: one chat call
    not_found = "not found"  # the error message for any other request
    bad_json = "invalid JSON body"  # the error message for a body that is not a JSON object

    def __init__(self, default: Script | None = None) -> None:
        self.default = default or Script()
        self.calls: list[Call] = []
        self._by_model: dict[str, Script] = {}
        self._queue: deque[tuple[str | None, Script]] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections = 0
        self.port = 0

    # -- scripting ---------------------------------------------------------------------------

    def script(self, model: str, script: Script) -> None:
        """Answer every call to ``model`` so (unless a queued script comes first)."""
        with self._lock:
            self._by_model[model] = script

    def enqueue(self, *scripts: Script, model: str | None = None) -> None:
        """Answer the next calls (to ``model``, or to any model) with these, in order."""
        with self._lock:
            self._queue.extend((model, s) for s in scripts)

    async def received(self, count: int = 1, within: float = 10.0) -> list[Call]:
        """The calls received so far, once there are at least ``count`` (from a test's own
        event loop: the fake answers on another)."""
        deadline = time.monotonic() + within
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.calls)} calls, not {count}, in {within:g} s")
            await asyncio.sleep(0.005)
        with self._lock:
            return list(self.calls)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self._queue.clear()
            self._by_model.clear()

    def models(self) -> list[str]:
        """The models the fake lists as served (retired ones are not)."""
        with self._lock:
            names = {self.default_model, *self._by_model}
            return sorted(n for n in names if not self._by_model.get(n, self.default).retired)

    def spec(self, model: str | None = None, **kw: Any) -> BackendSpec:
        """A BackendSpec pointing at this fake."""
        return BackendSpec(self.provider, self.base_url, model or self.default_model, **kw)

    def _take(self, model: str) -> Script:
        with self._lock:
            for i, (wanted, script) in enumerate(self._queue):
                if wanted is None or wanted == model:
                    del self._queue[i]
                    return script
            return self._by_model.get(model, self.default)

    def _record(self, call: Call) -> Call:
        with self._lock:
            self.calls.append(call)
        return call

    # -- running -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def start(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self._connections += 1
        number = self._connections
        try:
            while True:
                request = await _read_request(reader, number)
                if request is None:
                    break
                if not await self.handle(request, Responder(writer)):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()

    async def handle(self, request: Request, out: Responder) -> bool:
        """Answer ``request``; False when the connection must not be used again."""
        if request.method == "GET" and request.path == self.models_path:
            await out.send_json(200, self._models_payload())
            return True
        if request.method != "POST" or request.path != self.chat_path:
            await out.send_json(404, self._error(self.not_found))
            return True
        found = self._call(request)
        if found is None:
            await out.send_json(400, self._error(self.bad_json))
            return True
        call, body = found
        script = call.script or self.default
        if script.retired:
            await out.send_json(404, self._retired(call.model))
            return True
        if script.status >= 400:
            await out.send_json(script.status, self._error(script.error, kind="server_error"))
            return True
        return await self._answer(out, call, body, script, _plan(call, script))

    def _models_payload(self) -> dict[str, Any]:
        """The body of the answer to ``GET models_path``."""
        raise NotImplementedError

    def _error(self, message: str, kind: str = "invalid_request_error") -> Any:
        """An error body saying ``message`` (``kind``: the OpenAI error type)."""
        raise NotImplementedError

    def _retired(self, model: str) -> Any:
        """The error body saying that there is no such ``model``."""
        raise NotImplementedError

    async def _answer(
        self, out: Responder, call: Call, body: dict[str, Any], script: Script, pieces: list[str]
    ) -> bool:
        """Answer the chat ``call`` with ``pieces``; False when the connection was cut."""
        raise NotImplementedError

    async def _stream(
        self,
        out: Responder,
        call: Call,
        script: Script,
        pieces: list[str],
        encode: Callable[[str], bytes],
        malformed: bytes,
    ) -> bool:
        """Send each piece as the chunk ``encode(piece)``, delayed, cut short or preceded by the
        ``malformed`` chunk as ``script`` says; False when the connection was cut."""
        await asyncio.sleep(script.first_token_delay)
        for i, piece in enumerate(pieces):
            if i and script.token_delay:
                await asyncio.sleep(script.token_delay)
            if script.cut_after == i:
                out.cut()
                return False
            if script.stall_after == i:
                await asyncio.Event().wait()  # until the caller gives up (or the fake stops)
            if script.malformed_after == i:
                await out.send_chunk(malformed)
            await out.send_chunk(encode(piece))
            call.piece_sent_at.append(time.monotonic())
            call.pieces_sent += 1
        if script.cut_after is not None and script.cut_after >= len(pieces):
            out.cut()
            return False
        return True

    def _call(self, request: Request) -> tuple[Call, dict[str, Any]] | None:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        model = str(body.get("model", ""))
        script = self._take(model)
        call = Call(
            request.path,
            body,
            time.monotonic(),
            dict(request.headers),
            request.connection,
            model,
            script,
            script.model or model,
        )
        return self._record(call), body


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers: dict[str, str] = {}
    for header in lines:
        if ":" in header:
            name, value = header.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, target.split("?", 1)[0], headers, body, connection)


def _plan(call: Call, script: Script) -> list[str]:
    """The pieces to stream, and the usage to report, filled into ``call``."""
    if script.echo_system:
        pieces = tokens(call.system)
    else:
        pieces = list(script.pieces) if script.pieces is not None else tokens(script.reply)
    size = sum(len(_text(m)) for m in call.messages)
    call.input_tokens = script.input_tokens if script.input_tokens is not None else size // 4 + 1
    call.output_tokens = script.output_tokens if script.output_tokens is not None else len(pieces)
    return pieces


class FakeOpenAI(_FakeServer):
    """POST /v1/chat/completions (streamed or not) and GET /v1/models."""

    default_model = "fake-gpt"
    provider: Provider = "openai"
    base_path = "/v1"
    models_path = "/v1/models"
    chat_path = "/v1/chat/completions"
    not_found = "Not found"
    bad_json = "Invalid JSON body"

    def _models_payload(self) -> dict[str, Any]:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models()
        ]
        return {"object": "list", "data": data}

    def _error(
        self, message: str, kind: str = "invalid_request_error", code: str | None = None
    ) -> Any:
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def _retired(self, model: str) -> Any:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return self._error(message, code="model_not_found")

    async def _answer(
        self, out: Responder, call: Call, body: dict[str, Any], script: Script, pieces: list[str]
    ) -> bool:
        call.cached_tokens = script.cached_tokens
        created = int(time.time())
        ident = f"chatcmpl-fake{len(self.calls)}"
        usage: dict[str, Any] = {
            "prompt_tokens": call.input_tokens,
            "completion_tokens": call.output_tokens,
            "total_tokens": call.input_tokens + call.output_tokens,
            "prompt_tokens_details": {"cached_tokens": call.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        if not body.get("stream"):
            await asyncio.sleep(script.first_token_delay + script.token_delay * len(pieces))
            reply = {"role": "assistant", "content": "".join(pieces), "refusal": None}
            choice = {"index": 0, "message": reply, "logprobs": None, "finish_reason": "stop"}
            await out.send_json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": call.reported_model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return True
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": call.reported_model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                payload["usage"] = None
            return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"

        await out.start_stream("text/event-stream; charset=utf-8")
        await out.send_chunk(chunk({"role": "assistant", "content": "", "refusal": None}))
        broken = b'data: {"id": "broken", "choices": [\n\n'
        if not await self._stream(
            out, call, script, pieces, lambda p: chunk({"content": p}), broken
        ):
            return False
        if script.finish:
            await out.send_chunk(chunk({}, "stop"))
            if include_usage:
                tail = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": call.reported_model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": usage,
                }
                await out.send_chunk(b"data: " + json.dumps(tail).encode() + b"\n\n")
        await out.send_chunk(b"data: [DONE]\n\n")
        await out.end_stream()
        return True


class FakeOllama(_FakeServer):
    """POST /api/chat (NDJSON streamed, or one object) and GET /api/tags."""

    default_model = "fake-llama:latest"
    provider: Provider = "ollama"
    models_path = "/api/tags"
    chat_path = "/api/chat"

    def _models_payload(self) -> dict[str, Any]:
        models = [
            {
                "name": m,
                "model": m,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 1,
                "digest": "0" * 64,
                "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
            }
            for m in self.models()
        ]
        return {"models": models}

    def _error(self, message: str, kind: str = "invalid_request_error") -> Any:
        return {"error": message}

    def _retired(self, model: str) -> Any:
        return self._error(f'model "{model}" not found, try pulling it first')

    async def _answer(
        self, out: Responder, call: Call, body: dict[str, Any], script: Script, pieces: list[str]
    ) -> bool:
        started = time.monotonic_ns()

        def line(content: str, done: bool) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "model": call.reported_model,
                "created_at": "2025-01-01T00:00:00.000000Z",
                "message": {"role": "assistant", "content": content},
                "done": done,
            }
            if done:
                elapsed = time.monotonic_ns() - started
                obj |= {
                    "done_reason": "stop",
                    "total_duration": elapsed,
                    "load_duration": 1000,
                    "prompt_eval_count": call.input_tokens,
                    "prompt_eval_duration": 1000,
                    "eval_count": call.output_tokens,
                    "eval_duration": elapsed,
                }
            return obj

        if body.get("stream") is False:
            await asyncio.sleep(script.first_token_delay + script.token_delay * len(pieces))
            await out.send_json(200, line("".join(pieces), True))
            return True
        await out.start_stream("application/x-ndjson")

        def piece_line(piece: str) -> bytes:
            return json.dumps(line(piece, False), ensure_ascii=False).encode() + b"\n"

        broken = b'{"model": "broken", "message": {\n'
        if not await self._stream(out, call, script, pieces, piece_line, broken):
            return False
        if script.finish:
            await out.send_chunk(json.dumps(line("", True)).encode() + b"\n")
        await out.end_stream()
        return True
