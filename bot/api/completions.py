"""``POST /v1/chat/completions``: the licensee's own app asks the robot, OpenAI-compatible.

A request drives a ``ChatSession`` (the widget's state machine: limits, units, answering
pipeline, content filter, token ledger) through a sink that queues its frames; this module only
turns those frames into a JSON body or ``chat.completion.chunk`` events. The answer runs as the
session's own task, so a client that goes away mid-stream leaves it to finish and be stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import IntegrityError

from bot.api.auth import forget_key, secret_key
from bot.api.errors import ERROR_RESPONSES, ApiError
from bot.api.lease import KeptLease, lease_of
from bot.api.replay import Answered, replay
from bot.api.schemas import (
    MAX_BODY_BYTES,
    MAX_USER_CHARS,
    MODEL_NAME,
    AnswerMessage,
    Choice,
    ChunkChoice,
    ChunkDelta,
    Completion,
    CompletionChunk,
    CompletionRequest,
    KefuBlock,
)
from bot.api.sse import EventStream
from bot.chat.services import ChatServices
from bot.chat.session import ChatSession
from bot.chat.wire import ref
from bot.deps import services_of
from core.chat import idempotency
from core.chat.frames import (
    MAX_TEXT_CHARS,
    Ack,
    ConversationRef,
    Error,
    ErrorCode,
    Message,
    Notice,
    NoticeKind,
    ReplyDelta,
    ReplyEnd,
    ReplyRestart,
    ReplyStart,
    ServerFrame,
)
from core.ids import new_id
from core.licensing import identity
from core.licensing.licensees import KeyContext

log = logging.getLogger("kefu.api")
router = APIRouter(prefix="/v1", tags=["chat"])


class Shut:
    """The session closed (a suspended licence or maintenance found on the way)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class QueueSink:
    """A session's output, queued for the HTTP response to read."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[ServerFrame | Shut] = asyncio.Queue()

    async def send(self, frame: ServerFrame) -> None:
        self.frames.put_nowait(frame)

    async def close(self, code: int, reason: str) -> None:
        self.frames.put_nowait(Shut(code, reason))


def _question(req: CompletionRequest) -> str:
    """The end user's new message: the last ``user`` message's text."""
    for index in range(len(req.messages) - 1, -1, -1):
        message = req.messages[index]
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):  # content parts: only text parts are read
            content = "".join(
                str(part.get("text", "")) for part in content if part.get("type") == "text"
            )
        text = content or ""
        param = f"messages[{index}].content"
        if not text.strip():
            raise ApiError(400, "the last user message is empty", "empty_message", param)
        if len(text) > MAX_TEXT_CHARS:
            raise ApiError(
                400,
                f"the last user message is over {MAX_TEXT_CHARS} characters",
                "message_too_long",
                param,
            )
        return text
    raise ApiError(400, "messages holds no user message", "missing_user_message", "messages")


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it is known to be over ``MAX_BODY_BYTES``: by its
    Content-Length before a byte is read, or while it streams in when it has none (chunked)."""
    too_big = ApiError(
        413,
        f"the body is over {MAX_BODY_BYTES} bytes: send only the new user message",
        "request_too_large",
    )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise too_big
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY_BYTES:
            raise too_big
        parts.append(part)
    return b"".join(parts)


async def _parse(request: Request) -> tuple[CompletionRequest, str]:
    raw = await _body(request)
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "the body is not valid JSON", "invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", "invalid_json")
    try:
        req = CompletionRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(400, f"{param}: {first['msg']}", "invalid_value", param) from None
    if req.model != MODEL_NAME:
        raise ApiError(
            400,
            f"unknown model {req.model[:80]!r}: this API serves the model {MODEL_NAME!r}",
            "model_not_found",
            "model",
        )
    if not req.user or not req.user.strip():
        raise ApiError(
            400, "user is required: your own id for the end user", "missing_user", "user"
        )
    if len(req.user) > MAX_USER_CHARS:
        raise ApiError(400, f"user is over {MAX_USER_CHARS} characters", "invalid_value", "user")
    return req, _question(req)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key.strip() or len(key) > idempotency.MAX_KEY_CHARS:
        raise ApiError(
            400,
            f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_CHARS} characters",
            "invalid_idempotency_key",
            "Idempotency-Key",
        )
    return key


async def _take(
    services: ChatServices, ctx: KeyContext, key: str, visitor_id: str, client_id: str
) -> idempotency.Taken:
    lic = ctx.licensee.id
    try:
        return await services.db.write(
            partial(
                idempotency.take,
                licensee_id=lic,
                key=key,
                visitor_id=visitor_id,
                client_id=client_id,
                now=services.clock(),
                lease=lease_of(services),
            )
        )
    except IntegrityError:  # another process took it between our read and our insert
        taken = await asyncio.to_thread(
            services.db.read, partial(idempotency.find, licensee_id=lic, key=key)
        )
        if taken is None:  # pragma: no cover - the row that refused ours is gone again
            raise
        return taken


@dataclass(frozen=True, slots=True)
class Held:
    """This request holds the key: for its own new message, or (``resumed``) to answer the
    message that the key's dead first request stored but never answered."""

    taken: idempotency.Taken
    resumed: bool = False


# Rounds of take / wait / take over before giving up: each round ends only when the key changed
# hands (given back, or taken over by another retry), so a few are plenty.
_CLAIM_ROUNDS = 20


async def _claim(
    services: ChatServices, ctx: KeyContext, key: str, visitor_id: str, client_id: str
) -> Answered | Held:
    """The key, when this request is to store the message or to answer the stored one of a dead
    first request; otherwise the answer that the key's first request stored, to replay."""
    lic = ctx.licensee.id
    for _ in range(_CLAIM_ROUNDS):
        taken = await _take(services, ctx, key, visitor_id, client_id)
        if taken.first:
            return Held(taken)
        seen = await replay(services, lic, key)
        if isinstance(seen, Answered):
            return seen
        if seen.holder is None:
            continue  # given back by a refused request: take it afresh
        if seen.stored:
            resumed = await services.db.write(
                partial(
                    idempotency.resume,
                    licensee_id=lic,
                    key=key,
                    holder=seen.holder,
                    now=services.clock(),
                    lease=lease_of(services),
                )
            )
            if resumed is not None:
                log.warning(
                    "Idempotency-Key of licensee %s taken over: its first request stored the "
                    "message but no answer within its lease",
                    lic,
                )
                return Held(resumed, resumed=True)
            continue
        over = await services.db.write(
            partial(
                idempotency.take_over,
                licensee_id=lic,
                key=key,
                holder=seen.holder,
                visitor_id=visitor_id,
                client_id=client_id,
                now=services.clock(),
                lease=lease_of(services),
            )
        )
        if over is not None:
            log.warning(
                "Idempotency-Key of licensee %s taken over: its first request stored no "
                "message within its lease",
                lic,
            )
            return Held(over)
    raise ApiError(
        409,
        "the first request with this Idempotency-Key is still being answered; retry later",
        "idempotency_key_in_use",
        "Idempotency-Key",
    )


async def _give_back(services: ChatServices, ctx: KeyContext, key: str, client_id: str) -> None:
    await services.db.write(
        partial(idempotency.give_back, licensee_id=ctx.licensee.id, key=key, client_id=client_id)
    )


def _refusal(item: ServerFrame | Shut, notice: Notice | None) -> ApiError:
    """What stopped the message before it was stored, as an error object."""
    if isinstance(item, Error):
        if item.code == ErrorCode.RATE_LIMITED:
            return ApiError(429, item.message, "rate_limited", retry_after=item.retry_after)
        return ApiError(503, item.message, item.code.value)
    if notice is not None and notice.kind == NoticeKind.MAINTENANCE:
        return ApiError(503, f"under maintenance: {notice.text}", "maintenance")
    return ApiError(
        403, "this licence is suspended or has lapsed: the robot does not answer", "suspended"
    )


class Turn:
    """One question on its way through a session: its ack, then its answer's frames."""

    def __init__(self, session: ChatSession, sink: QueueSink, lease: KeptLease | None) -> None:
        self.session = session
        self.sink = sink
        self.lease = lease  # the Idempotency-Key's, kept until the answer is stored

    async def acked(self) -> ConversationRef:
        """The question's conversation once it is stored, or the refusal (raised) instead."""
        notice: Notice | None = None
        while True:
            item = await self.sink.frames.get()
            if isinstance(item, Ack) and item.conversation is not None:
                return item.conversation
            if isinstance(item, Notice):
                notice = item
            elif isinstance(item, Error | Shut):
                raise _refusal(item, notice)

    async def frames(self) -> AsyncIterator[ServerFrame]:
        """The answer's frames, up to and including its ``reply.end``; raises the refusal when
        the session is shut before the answer ends (the licence suspended mid-answer, a
        maintenance window opening), so that the request ends instead of waiting for ever.
        This is also where a hand-off would end a turn: see docs/api.md."""
        notice: Notice | None = None
        while True:
            item = await self.sink.frames.get()
            if isinstance(item, ReplyStart | ReplyDelta | ReplyRestart | ReplyEnd):
                yield item
                if isinstance(item, ReplyEnd):
                    return
            elif isinstance(item, Notice):
                notice = item
            elif isinstance(item, Shut):
                raise _refusal(item, notice)

    async def stop(self) -> None:
        # Shielded: a client gone mid-stream cancels the response, but the answer must still be
        # stored whole before this session lets go of it.
        with anyio.CancelScope(shield=True):
            await self.session.stop()
            if self.lease is not None:
                await self.lease.stop()


def _kefu(conversation: ConversationRef, end: ReplyEnd) -> KefuBlock:
    return KefuBlock(conversation=conversation, message=end.reply, ai=end.ai, sources=end.sources)


def _completion(answered: Answered) -> Completion:
    return Completion(
        id=f"chatcmpl-{answered.kefu.message}",
        created=answered.created,
        choices=[Choice(message=AnswerMessage(content=answered.text))],
        kefu=answered.kefu,
    )


def _event(chunk: CompletionChunk) -> str:
    return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"


DONE = "data: [DONE]\n\n"


def _chunks(answered: Answered) -> list[str]:
    """A stored answer (a replay) as events: the role, the whole text, the end."""
    cid, created = f"chatcmpl-{answered.kefu.message}", answered.created
    return [
        _event(
            CompletionChunk(
                id=cid,
                created=created,
                choices=[ChunkChoice(delta=ChunkDelta(role="assistant", content=""))],
            )
        ),
        _event(
            CompletionChunk(
                id=cid,
                created=created,
                choices=[ChunkChoice(delta=ChunkDelta(content=answered.text))],
            )
        ),
        _event(
            CompletionChunk(
                id=cid,
                created=created,
                choices=[ChunkChoice(delta=ChunkDelta(), finish_reason="stop")],
                kefu=answered.kefu,
            )
        ),
        DONE,
    ]


def _chunk_of(frame: ServerFrame, conversation: ConversationRef, created: int) -> str:
    """One frame of the answer as its ``chat.completion.chunk`` event."""
    if isinstance(frame, ReplyStart):
        choice = ChunkChoice(delta=ChunkDelta(role="assistant", content=""))
        chunk = CompletionChunk(id=f"chatcmpl-{frame.reply}", created=created, choices=[choice])
    elif isinstance(frame, ReplyDelta):
        choice = ChunkChoice(delta=ChunkDelta(content=frame.text))
        chunk = CompletionChunk(id=f"chatcmpl-{frame.reply}", created=created, choices=[choice])
    elif isinstance(frame, ReplyRestart):
        choice = ChunkChoice(delta=ChunkDelta())
        chunk = CompletionChunk(
            id=f"chatcmpl-{frame.reply}", created=created, choices=[choice], restart=True
        )
    else:
        assert isinstance(frame, ReplyEnd)
        choice = ChunkChoice(delta=ChunkDelta(), finish_reason="stop")
        chunk = CompletionChunk(
            id=f"chatcmpl-{frame.reply}",
            created=created,
            choices=[choice],
            kefu=_kefu(conversation, frame),
        )
    return _event(chunk)


async def _stream(turn: Turn, conversation: ConversationRef, created: int) -> AsyncIterator[str]:
    try:
        async for frame in turn.frames():
            yield _chunk_of(frame, conversation, created)
        yield DONE
    except ApiError as exc:
        # The stream has begun (status 200): the error comes as an event, OpenAI's way, and
        # no [DONE] follows.
        yield f"data: {exc.body().model_dump_json()}\n\n"
    finally:
        await turn.stop()


_REF = "#/components/schemas/"


def document(app: FastAPI) -> None:
    """Put the bodies the route reads and streams itself (so that a bad body gets an OpenAI
    error object, not FastAPI's 422) into the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            _, defs = models_json_schema(
                [(CompletionRequest, "validation"), (CompletionChunk, "serialization")],
                ref_template=_REF + "{model}",
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _sse(body: AsyncIterator[str] | list[str]) -> EventStream:
    return EventStream(body)


@router.post(
    "/chat/completions",
    response_model=Completion,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "the answer; with stream=true, chat.completion.chunk events "
            "(text/event-stream) ending with 'data: [DONE]'",
            "content": {"text/event-stream": {"schema": {"$ref": _REF + "CompletionChunk"}}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF + "CompletionRequest"}}},
        }
    },
)
async def chat_completions(request: Request) -> Response:
    """Ask the licensee's robot; the last ``user`` message is the end user's new message."""
    # Not a dependency: FastAPI runs a plain function dependency in a worker thread, one more
    # thread hop per message (measured with the event stream: bot/api/sse.py).
    services = services_of(request.app)
    try:
        ctx = await secret_key(request, services, reuse=True)
        req, text = await _parse(request)
        try:
            return await _answer(request, services, ctx, req, text)
        except ApiError as exc:
            if exc.status == 403:
                # The write found the licence unable to serve, or the key revoked since it was
                # verified: read it afresh (a revoked key is a 401) and trust it no longer.
                forget_key(request)
                await secret_key(request, services)
            raise
    except ApiError as exc:
        return exc.response()


def _replayed(answered: Answered, stream: bool) -> Response:
    if stream:
        return _sse(_chunks(answered))
    return JSONResponse(_completion(answered).model_dump(mode="json"))


def _in_use(message: str) -> ApiError:
    return ApiError(409, message, "idempotency_key_in_use", "Idempotency-Key")


async def _resume(
    services: ChatServices, key: str, turn: Turn, taken: idempotency.Taken, user: str
) -> ConversationRef | Answered:
    """Answer the question that the key's dead first request stored (this request took the key
    over): through the session, claimed, as a hello resumes one, so that it is answered once."""
    lic = turn.session.licensee_id
    found = await asyncio.to_thread(
        services.db.read,
        partial(
            idempotency.question,
            licensee_id=lic,
            visitor_id=taken.visitor_id,
            client_id=taken.client_id,
        ),
    )
    if found is not None:
        conv, row = found
        if not await turn.session.start():
            await turn.sink.close(0, "refused")
            await turn.acked()  # raises the refusal
        opened = await turn.session.attend(taken.visitor_id, user, leave_out=row.id)
        if opened is None or opened.id != conv.id:
            raise _in_use(
                "the conversation of this Idempotency-Key's question has ended unanswered: "
                "ask again with a new key"
            )
        if await turn.session.answer_stored(conv, row):
            return ref(conv)
    # Answered meanwhile, or being answered by this process (a widget's hello): that answer.
    seen = await replay(services, lic, key)
    if isinstance(seen, Answered):
        return seen
    raise _in_use("the first request with this Idempotency-Key is still being answered")


async def _answer(
    request: Request, services: ChatServices, ctx: KeyContext, req: CompletionRequest, text: str
) -> Response:
    assert req.user is not None
    secret = services.settings.secret()
    visitor_id = identity.visitor_id_for(secret, ctx.licensee.id, req.user)
    client_id = new_id("api")
    key = _idempotency_key(request)
    held: Held | None = None
    if key is not None:
        claimed = await _claim(services, ctx, key, visitor_id, client_id)
        if isinstance(claimed, Answered):
            return _replayed(claimed, req.stream)
        held = claimed
        if held.resumed and held.taken.visitor_id != visitor_id:
            raise _in_use("this Idempotency-Key was used for another user's question")
    sink = QueueSink()
    session = ChatSession(services, ctx, sink)
    lease = None
    if key is not None and held is not None:
        lease = KeptLease(services, ctx.licensee.id, key, held.taken.client_id)
    turn = Turn(session, sink, lease)
    streaming = False
    try:
        if key is not None and held is not None and held.resumed:
            resumed = await _resume(services, key, turn, held.taken, req.user)
            if isinstance(resumed, Answered):
                return _replayed(resumed, req.stream)
            conversation = resumed
        else:
            try:
                if await session.start():
                    await session.attend(visitor_id, req.user)
                    await session.receive(Message(type="message", id=client_id, text=text))
                else:
                    await sink.close(0, "refused")
                conversation = await turn.acked()
            except ApiError:
                if key is not None:
                    await _give_back(services, ctx, key, client_id)
                raise
        created = int(services.clock().timestamp())
        if req.stream:
            streaming = True
            return _sse(_stream(turn, conversation, created))
        parts: dict[str, Any] = {}
        async for frame in turn.frames():
            if isinstance(frame, ReplyEnd):
                parts["end"] = frame
        end: ReplyEnd = parts["end"]
        answered = Answered(end.text, created, _kefu(conversation, end))
        return JSONResponse(_completion(answered).model_dump(mode="json"))
    finally:
        if not streaming:
            await turn.stop()
