"""What the log lines of the running task are about: its HTTP request and chat conversation.

Context variables, so that each request's and each chat socket's task (and the tasks it
starts) carries its own; the log formatter reads them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kefu_request_id", default=None
)
# A chat socket's conversation changes as units end and start: the formatter asks at each line.
_conversation: contextvars.ContextVar[Callable[[], str | None] | None] = contextvars.ContextVar(
    "kefu_conversation", default=None
)


def follow_conversation(current: Callable[[], str | None]) -> None:
    """Log lines of this task (and of tasks it starts) name ``current()``'s conversation."""
    _conversation.set(current)


def conversation_id() -> str | None:
    current = _conversation.get()
    return current() if current is not None else None
