"""Protocol v1 frames (widget <-> server) as typed models; see docs/protocol.md.

Client frames are parsed strictly (a wrong type is a ``bad_frame``, never coerced) but
unknown fields are ignored, so that newer clients can add optional fields. A string that
cannot be UTF-8 (a lone surrogate, which JSON can carry) is a ``bad_frame`` wherever it is, so
that nothing stored or echoed back can fail to encode. One exception: ``hello.user`` that is
malformed is dropped, not refused (and a malformed ``hello.visitor`` is null), because an
identity the licensee's page got wrong must never keep its end user from chatting. Server frames
are serialised with ``dump_frame``; optional fields a client may not know are simply extra.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

MAX_FRAME_BYTES = 16 * 1024
MAX_TEXT_CHARS = 2000
MAX_CLIENT_ID_CHARS = 64
MAX_COMMENT_CHARS = 500
BAD_FRAMES_BEFORE_CLOSE = 10
MAX_USER_ID_CHARS = 128
MAX_USER_HASH_CHARS = 128
MAX_HISTORY_PAGE = 100
MAX_CONTACT_CHARS = 200


class ErrorCode(StrEnum):
    HELLO_REQUIRED = "hello_required"
    BAD_FRAME = "bad_frame"
    MESSAGE_TOO_LONG = "message_too_long"
    NO_CONVERSATION = "no_conversation"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


class EndReason(StrEnum):
    CLOSED = "closed"
    IDLE = "idle"
    MAX_LENGTH = "max_length"
    AGENT = "agent"
    SUSPENDED = "suspended"
    MAX_MESSAGES = "max_messages"  # extension: the unit holds its maximum number of messages


class NoticeKind(StrEnum):
    MAINTENANCE = "maintenance"
    SUSPENDED = "suspended"


class Role(StrEnum):
    VISITOR = "visitor"
    ROBOT = "robot"
    AGENT = "agent"
    SYSTEM = "system"


class CloseCode:
    """WebSocket close codes used by the chat server (application codes are 4000+)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013  # the database is unreachable: the widget reconnects with backoff
    SUSPENDED = 4403
    MAINTENANCE = 4503


# ---------------------------------------------------------------- client -> server


class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserClaim(_ClientFrame):
    """``hello.user`` (extension): who the licensee's page says the end user is, and its proof."""

    id: Annotated[StrictStr, Field(min_length=1, max_length=MAX_USER_ID_CHARS)]
    hash: Annotated[StrictStr, Field(min_length=1, max_length=MAX_USER_HASH_CHARS)]


class Hello(_ClientFrame):
    type: Literal["hello"]
    visitor: StrictStr | None
    locale: StrictStr | None = None
    page: StrictStr | None = None
    user: UserClaim | None = None

    @field_validator("user", mode="wrap")
    @classmethod
    def _drop_a_malformed_user(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> UserClaim | None:
        try:
            claim: UserClaim | None = handler(value)
        except ValidationError:
            return None
        return claim


class Message(_ClientFrame):
    type: Literal["message"]
    id: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]
    text: StrictStr


class Close(_ClientFrame):
    type: Literal["close"]


class Rating(_ClientFrame):
    type: Literal["rating"]
    score: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Annotated[StrictStr, Field(max_length=MAX_COMMENT_CHARS)] | None = None


class HistoryRequest(_ClientFrame):
    """*(extension)* The messages before ``before`` (a history item's id), latest ``limit``."""

    type: Literal["history"]
    before: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]
    limit: Annotated[StrictInt, Field(ge=1, le=MAX_HISTORY_PAGE)] = 50


class HandoffRequest(_ClientFrame):
    """The end user asks for a person (the widget's button)."""

    type: Literal["handoff"]
    note: Annotated[StrictStr, Field(max_length=MAX_COMMENT_CHARS)] | None = None


class Typing(_ClientFrame):
    type: Literal["typing"]
    on: StrictBool


class LeaveMessage(_ClientFrame):
    """*(extension)* With nobody there: a contact and the question, for agents to answer later."""

    type: Literal["leave"]
    contact: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CONTACT_CHARS)]
    text: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


AnyClientFrame = (
    Hello | Message | Close | Rating | HistoryRequest | HandoffRequest | Typing | LeaveMessage
)
ClientFrame = Annotated[AnyClientFrame, Field(discriminator="type")]
_client_adapter: TypeAdapter[AnyClientFrame] = TypeAdapter(ClientFrame)

CLIENT_FRAME_TYPES = frozenset(
    {"hello", "message", "close", "rating", "history", "handoff", "typing", "leave"}
)


class FrameError(Exception):
    """A client frame that cannot be accepted; ``code`` is what the error frame says."""

    def __init__(self, code: ErrorCode, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(data: object) -> bool:
    """Whether any string (key or value) in ``data`` holds a lone surrogate (``"\\ud800"``),
    which JSON can carry but UTF-8 cannot: such a string could be neither stored nor echoed.
    Walked without recursion: the depth is whatever the client sent."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_client_frame(raw: str) -> AnyClientFrame:
    """Parse one text frame; raise FrameError(bad_frame | message_too_long) when it is not valid.

    Whatever the client sent, the outcome is a frame or a FrameError, never another exception:
    nesting too deep to parse, a ``type`` that is not a string and text that cannot be UTF-8
    are all ``bad_frame``."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError(ErrorCode.BAD_FRAME, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.BAD_FRAME, "frame must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        # A hello's identity stays lenient (docs/protocol.md): a token or a user that cannot
        # even be UTF-8 is as malformed as any other, so it is treated as absent.
        for lenient in ("visitor", "user"):
            if _has_lone_surrogate(data.get(lenient)):
                data[lenient] = None
    if _has_lone_surrogate(data):
        raise FrameError(ErrorCode.BAD_FRAME, "frame holds text that is not valid Unicode")
    if not isinstance(kind, str) or kind not in CLIENT_FRAME_TYPES:
        shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
        raise FrameError(ErrorCode.BAD_FRAME, f"unknown frame type: {shown!r}")
    try:
        frame = _client_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        cid = data.get("id") if isinstance(data.get("id"), str) else None
        raise FrameError(ErrorCode.BAD_FRAME, f"{where}: {first['msg']}", cid) from None
    if isinstance(frame, Message):
        if len(frame.text) > MAX_TEXT_CHARS:
            raise FrameError(
                ErrorCode.MESSAGE_TOO_LONG,
                f"text is longer than {MAX_TEXT_CHARS} characters",
                frame.id,
            )
        if not frame.text.strip():
            raise FrameError(ErrorCode.BAD_FRAME, "text is empty", frame.id)
    return frame


# ---------------------------------------------------------------- server -> client


class _ServerFrame(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConversationRef(_ServerFrame):
    id: str
    started_at: datetime
    test: bool = False


class AiLabel(_ServerFrame):
    label: str
    producer: str
    model: str
    content_id: str


class SourceRef(_ServerFrame):
    id: str
    question: str


class HistoryItem(_ServerFrame):
    id: str
    role: Role
    text: str
    at: datetime
    client_id: str | None = None
    ai: AiLabel | None = None


class WidgetConfig(_ServerFrame):
    title: str
    greeting: str
    attribution: str
    ai_label: str
    disclaimer: str
    locale: str
    theme: dict[str, Any]
    test: bool = False  # extension: connected with a test key (the widget shows "test mode")
    handoff: bool = False  # extension: the licensee has agents (the widget offers a person)


class Notice(_ServerFrame):
    type: Literal["notice"] = "notice"
    kind: str
    text: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class AgentRef(_ServerFrame):
    name: str


class HandoffStatus(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    UNAVAILABLE = "unavailable"
    RETURNED = "returned"


class Handoff(_ServerFrame):
    """Where a request for a person stands."""

    type: Literal["handoff"] = "handoff"
    status: HandoffStatus
    text: str
    position: int | None = None
    agent: AgentRef | None = None
    wait: int | None = None  # extension: with ``queued``, the estimated wait in seconds


class AgentMessage(_ServerFrame):
    type: Literal["agent.message"] = "agent.message"
    id: str
    text: str
    agent: AgentRef
    at: datetime


class AgentTyping(_ServerFrame):
    type: Literal["agent.typing"] = "agent.typing"
    on: bool


class Welcome(_ServerFrame):
    type: Literal["welcome"] = "welcome"
    visitor: str
    conversation: ConversationRef | None
    history: list[HistoryItem]
    config: WidgetConfig
    notice: Notice | None = None
    user: str | None = None  # extension: the verified hello.user id, else null
    more_history: bool = False  # extension: earlier messages exist (ask with a history frame)
    handoff: Handoff | None = None  # extension: the open unit's request for a person, if any


class HistoryPage(_ServerFrame):
    """*(extension)* The answer to a ``history`` request: items oldest first."""

    type: Literal["history"] = "history"
    items: list[HistoryItem]
    more: bool


class Ack(_ServerFrame):
    type: Literal["ack"] = "ack"
    id: str | None
    conversation: ConversationRef | None


class ReplyStart(_ServerFrame):
    type: Literal["reply.start"] = "reply.start"
    reply: str
    to: str


class ReplyDelta(_ServerFrame):
    type: Literal["reply.delta"] = "reply.delta"
    reply: str
    text: str


class ReplyRestart(_ServerFrame):
    """*(extension)* Forget the pieces of this reply shown so far: the ones after replace them.

    Sent when a model's stream breaks after it started and the next link of the fallback chain
    answers instead, or when the content filter stops a streamed answer. ``reply.end`` carries
    the whole answer either way, so a client that ignores this frame is corrected at the end.
    """

    type: Literal["reply.restart"] = "reply.restart"
    reply: str


class ReplyEnd(_ServerFrame):
    type: Literal["reply.end"] = "reply.end"
    reply: str
    text: str
    ai: AiLabel
    sources: list[SourceRef]
    handoff: bool = False  # extension: the robot did not know; the widget offers a person


class Ended(_ServerFrame):
    type: Literal["ended"] = "ended"
    conversation: ConversationRef
    reason: EndReason


class Error(_ServerFrame):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    id: str | None = None
    retry_after: float | None = None


ServerFrame = (
    Welcome
    | Ack
    | ReplyStart
    | ReplyDelta
    | ReplyRestart
    | ReplyEnd
    | Ended
    | Notice
    | Error
    | HistoryPage
    | Handoff
    | AgentMessage
    | AgentTyping
)

SERVER_FRAME_TYPES = frozenset(
    {
        "welcome",
        "ack",
        "reply.start",
        "reply.delta",
        "reply.restart",
        "reply.end",
        "ended",
        "notice",
        "error",
        "history",
        "handoff",
        "agent.message",
        "agent.typing",
    }
)


def dump_frame(frame: ServerFrame) -> str:
    """Serialise a server frame as one JSON text frame (None-valued optional fields kept)."""
    return frame.model_dump_json()
