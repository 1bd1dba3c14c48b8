"""The agent protocol (agent console <-> server on ``/v1/agent``) as typed frames.

Parsed like protocol v1's client frames: strictly, unknown fields ignored, any problem a
``bad_frame``. Conversation ids are checked against the agent's licensee by core.chat.handoff,
never trusted from the frame.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from core.chat.frames import MAX_CLIENT_ID_CHARS, MAX_TEXT_CHARS, EndReason, HistoryItem

MAX_AGENT_ID_CHARS = MAX_CLIENT_ID_CHARS - 8  # stored behind a prefix in the client-id space


class AgentErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    MESSAGE_TOO_LONG = "message_too_long"
    TAKEN = "taken"  # another agent accepted it first, or it is no longer waiting
    NOT_FOUND = "not_found"  # no such conversation for this agent's licensee
    NOT_YOURS = "not_yours"  # the agent does not hold this conversation
    UNAVAILABLE = "unavailable"  # the database did not answer: try again


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


ConvId = Annotated[StrictStr, Field(min_length=1, max_length=40)]


class Accept(_In):
    type: Literal["accept"]
    conversation: ConvId


class Say(_In):
    type: Literal["message"]
    conversation: ConvId
    id: Annotated[StrictStr, Field(min_length=1, max_length=MAX_AGENT_ID_CHARS)]
    text: StrictStr


class Release(_In):
    type: Literal["release"]
    conversation: ConvId


class CloseConversation(_In):
    type: Literal["close"]
    conversation: ConvId


class AgentTypingIn(_In):
    """*(extension)* The agent is typing in a conversation it holds."""

    type: Literal["typing"]
    conversation: ConvId
    on: StrictBool


class Look(_In):
    """*(extension)* Read a conversation of the licensee (a waiting one, before accepting)."""

    type: Literal["transcript"]
    conversation: ConvId


AgentIn = Accept | Say | Release | CloseConversation | AgentTypingIn | Look
_adapter: TypeAdapter[AgentIn] = TypeAdapter(Annotated[AgentIn, Field(discriminator="type")])
AGENT_CLIENT_TYPES = frozenset({"accept", "message", "release", "close", "typing", "transcript"})


class AgentFrameError(Exception):
    def __init__(self, code: AgentErrorCode, message: str, frame_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame_id = frame_id


def parse_agent_frame(raw: str) -> AgentIn:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise AgentFrameError(AgentErrorCode.BAD_FRAME, "frame is not valid JSON") from None
    if not isinstance(data, dict) or data.get("type") not in AGENT_CLIENT_TYPES:
        raise AgentFrameError(AgentErrorCode.BAD_FRAME, "unknown frame type")
    try:
        frame = _adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        fid = data.get("id") if isinstance(data.get("id"), str) else None
        raise AgentFrameError(AgentErrorCode.BAD_FRAME, f"{where}: {first['msg']}", fid) from None
    if isinstance(frame, Say):
        if len(frame.text) > MAX_TEXT_CHARS:
            raise AgentFrameError(AgentErrorCode.MESSAGE_TOO_LONG, "text is too long", frame.id)
        if not frame.text.strip():
            raise AgentFrameError(AgentErrorCode.BAD_FRAME, "text is empty", frame.id)
        try:
            frame.text.encode("utf-8")
        except UnicodeEncodeError:
            raise AgentFrameError(AgentErrorCode.BAD_FRAME, "text is not valid Unicode") from None
    return frame


# ---------------------------------------------------------------- server -> agent


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class QueueEntry(_Out):
    conversation: str
    waiting_since: datetime
    preview: str
    page: str | None = None  # extension
    locale: str | None = None  # extension


class Queue(_Out):
    type: Literal["queue"] = "queue"
    items: list[QueueEntry]


class EndUser(_Out):
    page: str | None
    locale: str | None


class Assigned(_Out):
    type: Literal["assigned"] = "assigned"
    conversation: str
    history: list[HistoryItem]
    end_user: EndUser | None = None  # extension: the page and locale the request came from


class ConversationMessage(_Out):
    type: Literal["conversation.message"] = "conversation.message"
    conversation: str
    message: HistoryItem


class AgentAck(_Out):
    type: Literal["ack"] = "ack"
    id: str | None
    conversation: str


class AgentError(_Out):
    type: Literal["error"] = "error"
    code: AgentErrorCode
    message: str
    id: str | None = None
    conversation: str | None = None


class ConversationEnded(_Out):
    """*(extension)* A conversation the agent holds (or saw waiting) is over."""

    type: Literal["conversation.ended"] = "conversation.ended"
    conversation: str
    reason: EndReason


class Released(_Out):
    """*(extension)* The conversation is no longer this agent's (released, or lost after the
    grace period)."""

    type: Literal["released"] = "released"
    conversation: str


class EndUserTyping(_Out):
    """*(extension)* The end user of a held conversation is typing."""

    type: Literal["conversation.typing"] = "conversation.typing"
    conversation: str
    on: bool


class Transcript(_Out):
    """*(extension)* The answer to ``transcript``."""

    type: Literal["transcript"] = "transcript"
    conversation: str
    history: list[HistoryItem]


AgentOut = (
    Queue
    | Assigned
    | ConversationMessage
    | AgentAck
    | AgentError
    | ConversationEnded
    | Released
    | EndUserTyping
    | Transcript
)
AGENT_SERVER_TYPES = frozenset(
    {
        "queue",
        "assigned",
        "conversation.message",
        "ack",
        "error",
        "conversation.ended",
        "released",
        "conversation.typing",
        "transcript",
    }
)
_out_adapter: TypeAdapter[AgentOut] = TypeAdapter(Annotated[AgentOut, Field(discriminator="type")])


def load_agent_out(data: dict[str, object]) -> AgentOut:
    """A server -> agent frame from its JSON form (as the bus carries it)."""
    return _out_adapter.validate_python(data)
