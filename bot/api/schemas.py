"""The bodies of chat over HTTP: OpenAI's chat-completion shapes plus the ``kefu`` block."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.chat.frames import AiLabel, ConversationRef, HistoryItem, SourceRef

MODEL_NAME = "kefu"  # the one model this API serves: the licensee's robot
MAX_USER_CHARS = 64
# A request body's bytes at most. OpenAI clients send the whole conversation each time, though
# only the last user message is read: 1 MiB leaves room for hundreds of full-length turns.
MAX_BODY_BYTES = 1024 * 1024


class ChatMessage(BaseModel):
    # OpenAI clients send more (name, tool calls...): accepted and ignored.
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    """Only the last ``user`` message is read: the server keeps the conversation."""

    model_config = ConfigDict(extra="allow")  # temperature, max_tokens...: ignored

    model: str = Field(description=f'"{MODEL_NAME}"')
    messages: list[ChatMessage] = Field(min_length=1)
    user: str | None = Field(
        default=None, description="the licensee's own id for its end user (required, <= 64)"
    )
    stream: bool = False


class KefuBlock(BaseModel):
    conversation: ConversationRef
    message: str = Field(description="the stored answer's id (as in reply.end)")
    ai: AiLabel
    sources: list[SourceRef]


class AnswerMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AnswerMessage
    finish_reason: Literal["stop"] = "stop"


class Completion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_NAME
    choices: list[Choice]
    kefu: KefuBlock


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None


class CompletionChunk(BaseModel):
    """One ``data:`` event of a streamed answer; the last one carries ``kefu``. ``restart``
    (an extension) says the text so far is withdrawn: a model failed mid-answer and the next
    in the licensee's chain answers again."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str = MODEL_NAME
    choices: list[ChunkChoice]
    kefu: KefuBlock | None = None
    restart: bool | None = None


class ConversationView(BaseModel):
    id: str
    started_at: str
    ended_at: str | None
    end_reason: str | None
    test: bool
    history: list[HistoryItem]
