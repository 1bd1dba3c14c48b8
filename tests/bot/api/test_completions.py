"""``POST /v1/chat/completions`` with the official ``openai`` client against a real server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from openai import OpenAI
from sqlalchemy import func, select

from core.db.engine import Database
from core.db.tables import Conversation, EndUser, Message, table_of
from testkit.chat_http import bearer
from testkit.servers import LiveServer
from testkit.tenants import Tenant

M, C = table_of(Message).c, table_of(Conversation).c


def count(db: Database, column: Any, licensee_id: str) -> int:
    table = column.table
    return int(
        db.read(
            lambda conn: conn.execute(
                select(func.count()).select_from(table).where(column == licensee_id)
            ).scalar_one()
        )
    )


def usage(http: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    month = datetime.now(UTC).astimezone(ZoneInfo(tenant.licensee.timezone)).strftime("%Y-%m")
    response = http.get(
        "/v1/usage/conversations", params={"month": month}, headers=bearer(tenant.keys.secret_key)
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_answers_the_kefu_block_and_the_usage_count_agree(
    openai_a: OpenAI, http: httpx.Client, shop_a: Tenant, live: LiveServer, db: Database
) -> None:
    first = openai_a.chat.completions.create(
        model="kefu",
        messages=[
            {"role": "system", "content": "ignored: the server keeps the conversation"},
            {"role": "user", "content": "where is my parcel"},
        ],
        user="alice",
    )
    assert first.choices[0].message.content == "echo: where is my parcel"
    assert first.choices[0].finish_reason == "stop"
    kefu = first.model_extra["kefu"]  # type: ignore[index]
    conversation = kefu["conversation"]["id"]
    assert kefu["ai"]["model"] == "echo-1" and kefu["ai"]["label"]
    assert kefu["ai"]["content_id"] == kefu["message"]
    assert first.id == f"chatcmpl-{kefu['message']}"

    # Streaming: the same end user continues the same conversation (one unit).
    pieces: list[str] = []
    last: Any = None
    stream = openai_a.chat.completions.create(
        model="kefu",
        messages=[{"role": "user", "content": "and the refund"}],
        user="alice",
        stream=True,
    )
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        pieces.extend(c.delta.content or "" for c in chunk.choices)
        last = chunk
    assert "".join(pieces) == "echo: and the refund"
    assert last.choices[0].finish_reason == "stop"
    streamed = last.model_extra["kefu"]
    assert streamed["conversation"]["id"] == conversation

    # Another end user: another conversation, another unit.
    other = openai_a.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hello"}], user="bob"
    )
    bob_conversation = other.model_extra["kefu"]["conversation"]["id"]  # type: ignore[index]
    assert bob_conversation != conversation

    report = usage(http, shop_a)
    assert report["units"] == 2
    lines = {line["id"]: line for line in report["conversations"]}
    assert set(lines) == {conversation, bob_conversation}
    assert lines[conversation]["messages"] == 4
    assert lines[conversation]["end_user"] == "alice"
    assert lines[bob_conversation]["end_user"] == "bob"

    # What came back is what was stored, under the ids the kefu block named.
    history = http.get(
        f"/v1/conversations/{conversation}", headers=bearer(shop_a.keys.secret_key)
    ).json()["history"]
    robot = [item for item in history if item["role"] == "robot"]
    assert [(r["id"], r["text"]) for r in robot] == [
        (kefu["message"], "echo: where is my parcel"),
        (streamed["message"], "echo: and the refund"),
    ]
    assert count(db, M.licensee_id, shop_a.licensee.id) == 6
    assert count(db, table_of(EndUser).c.licensee_id, shop_a.licensee.id) == 2


def test_the_answer_comes_from_the_widgets_pipeline_with_the_conversation_as_memory(
    openai_a: OpenAI, live: LiveServer
) -> None:
    for text in ("one", "two"):
        openai_a.chat.completions.create(
            model="kefu", messages=[{"role": "user", "content": text}], user="carol"
        )
    request = live.answerer.requests[-1]
    assert [turn.text for turn in request.history] == ["one", "echo: one"]
    assert request.conversation_id is not None


def test_a_closed_conversation_is_followed_by_a_new_unit(
    openai_a: OpenAI, http: httpx.Client, shop_a: Tenant
) -> None:
    key = bearer(shop_a.keys.secret_key)
    first = openai_a.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hi"}], user="dan"
    )
    conversation = first.model_extra["kefu"]["conversation"]["id"]  # type: ignore[index]
    closed = http.post(f"/v1/conversations/{conversation}/close", headers=key)
    assert closed.status_code == 200
    assert closed.json()["end_reason"] == "closed" and closed.json()["ended_at"]
    again = http.post(f"/v1/conversations/{conversation}/close", headers=key)
    assert again.json()["ended_at"] == closed.json()["ended_at"]
    second = openai_a.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hi again"}], user="dan"
    )
    assert second.model_extra["kefu"]["conversation"]["id"] != conversation  # type: ignore[index]
    assert usage(http, shop_a)["units"] == 2
