"""``GET /v1/conversations/{id}`` and its close: the key's own licensee only."""

from __future__ import annotations

from functools import partial

import httpx
from openai import OpenAI
from sqlalchemy import select

from core.chat import conversations as units
from core.chat.frames import Role
from core.db.engine import Database
from core.db.tables import Conversation, table_of
from core.ids import new_id
from core.types import utcnow
from testkit.chat_http import ask, bearer
from testkit.tenants import Tenant


def test_another_licensees_key_gets_404_and_changes_nothing(
    openai_a: OpenAI, http: httpx.Client, shop_a: Tenant, shop_b: Tenant
) -> None:
    answer = openai_a.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hi"}], user="ivy"
    )
    conversation = answer.model_extra["kefu"]["conversation"]["id"]  # type: ignore[index]
    path = f"/v1/conversations/{conversation}"
    before = http.get(path, headers=bearer(shop_a.keys.secret_key)).json()

    for response in (
        http.get(path, headers=bearer(shop_b.keys.secret_key)),
        http.post(f"{path}/close", headers=bearer(shop_b.keys.secret_key)),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
    assert http.get(path, headers=bearer(shop_a.keys.secret_key)).json() == before
    assert before["ended_at"] is None
    assert [item["role"] for item in before["history"]] == ["visitor", "robot"]


def test_an_unknown_id_is_404_and_a_wrong_key_401(http: httpx.Client, shop_a: Tenant) -> None:
    missing = http.get("/v1/conversations/conv_nope", headers=bearer(shop_a.keys.secret_key))
    assert missing.status_code == 404
    assert http.get("/v1/conversations/conv_nope", headers=bearer("sk_x")).status_code == 401
    assert http.post("/v1/conversations/conv_nope/close").status_code == 401


def test_the_routes_and_their_models_are_in_the_openapi_document(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    completions = doc["paths"]["/v1/chat/completions"]["post"]
    schemas = doc["components"]["schemas"]
    ref = completions["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[1] in schemas
    ok = completions["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/Completion")
    assert ok["text/event-stream"]["schema"]["$ref"].endswith("/CompletionChunk")
    assert completions["responses"]["400"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/ErrorResponse")
    for path, method in (
        ("/v1/conversations/{conversation_id}", "get"),
        ("/v1/conversations/{conversation_id}/close", "post"),
    ):
        view = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        assert view["schema"]["$ref"].endswith("/ConversationView")
    assert {"CompletionRequest", "ChatMessage", "KefuBlock", "ConversationView"} <= set(schemas)


def test_an_agents_messages_come_back_through_the_conversation(
    http: httpx.Client, shop_a: Tenant, db: Database
) -> None:
    # Hand-off is not built: this is its storage side, an agent's message in the unit.
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "q1"})
    first = http.post("/v1/chat/completions", json=ask("a person please", "lin"), headers=headers)
    conversation = first.json()["kefu"]["conversation"]["id"]
    C = table_of(Conversation).c
    visitor = db.read(
        lambda conn: conn.execute(select(C.visitor_id).where(C.id == conversation)).scalar_one()
    )
    db.run(
        partial(
            units.record_reply,
            conversation_id=conversation,
            licensee_id=shop_a.licensee.id,
            visitor_id=visitor,
            message_id=new_id("m"),
            text="您好，我是客服小王",
            ai={},
            sources=[],
            now=utcnow(),
            role=Role.AGENT,
        )
    )
    view = http.get(f"/v1/conversations/{conversation}", headers=bearer(shop_a.keys.secret_key))
    history = view.json()["history"]
    assert [(h["role"], h["text"]) for h in history][-1] == ("agent", "您好，我是客服小王")
    # A retry of the question still gets the robot's answer, not the agent's message.
    again = http.post("/v1/chat/completions", json=ask("a person please", "lin"), headers=headers)
    assert again.json()["kefu"]["message"] == first.json()["kefu"]["message"]
    assert again.json()["choices"][0]["message"]["content"] == "echo: a person please"
