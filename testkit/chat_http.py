"""Chat over HTTP for tests and benches: a secret key's headers, a request body, SSE events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def ask(text: str, user: str = "u1", **extra: Any) -> dict[str, Any]:
    """A chat-completion body with one user message."""
    return {"model": "kefu", "messages": [{"role": "user", "content": text}], "user": user, **extra}


def events(lines: Iterable[str]) -> Iterator[dict[str, Any] | str]:
    """The ``data:`` payloads of a server-sent-event stream: JSON objects, then ``"[DONE]"``."""
    for line in lines:
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        yield data if data == "[DONE]" else json.loads(data)
