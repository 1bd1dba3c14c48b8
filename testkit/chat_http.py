"""Chat over HTTP for tests and benches: a secret key's headers, a request body, SSE events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select

from core.db.engine import Database
from core.db.tables import Conversation, Message, table_of


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


_M, _C = table_of(Message).c, table_of(Conversation).c


def stored(db: Database, licensee_id: str) -> tuple[int, int, int]:
    """(conversations, visitor messages, robot messages) of the licensee."""

    def read(conn: Any) -> tuple[int, int, int]:
        def n(stmt: Any) -> int:
            return int(conn.execute(stmt).scalar_one())

        conversations = n(select(func.count()).where(_C.licensee_id == licensee_id))
        visitor = n(select(func.count()).where(_M.licensee_id == licensee_id, _M.role == "visitor"))
        robot = n(select(func.count()).where(_M.licensee_id == licensee_id, _M.role == "robot"))
        return conversations, visitor, robot

    return db.read(read)
