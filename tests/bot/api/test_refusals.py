"""What chat over HTTP refuses, each as an OpenAI-style error object, storing nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import date, timedelta
from functools import partial
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select, update

from bot.api.schemas import MAX_BODY_BYTES
from core.db.engine import Database
from core.db.tables import Licensee, Message, table_of
from core.licensing.licensees import revoke_key
from core.licensing.suspension import suspend
from core.types import utcnow
from testkit.chat_http import ask, bearer, events
from testkit.servers import LiveServer
from testkit.tenants import Tenant

M = table_of(Message).c
URL = "/v1/chat/completions"


def messages(db: Database, licensee_id: str) -> int:
    return int(
        db.read(
            lambda conn: conn.execute(
                select(func.count()).where(M.licensee_id == licensee_id)
            ).scalar_one()
        )
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def user_says(content: Any) -> dict[str, Any]:
    return {"model": "kefu", "user": "u1", "messages": [{"role": "user", "content": content}]}


BAD_BODIES: list[tuple[str, bytes | dict[str, Any], str, str | None]] = [
    ("bad json", b'{"model": "kefu", ', "invalid_json", None),
    ("not an object", b"[1, 2]", "invalid_json", None),
    (
        "missing user",
        {"model": "kefu", "messages": [{"role": "user", "content": "hi"}]},
        "missing_user",
        "user",
    ),
    ("blank user", {**user_says("hi"), "user": "  "}, "missing_user", "user"),
    ("user over 64", {**user_says("hi"), "user": "u" * 65}, "invalid_value", "user"),
    ("no messages", {"model": "kefu", "user": "u1", "messages": []}, "invalid_value", "messages"),
    (
        "messages not a list",
        {"model": "kefu", "user": "u1", "messages": "hi"},
        "invalid_value",
        "messages",
    ),
    (
        "no user message",
        {"model": "kefu", "user": "u1", "messages": [{"role": "system", "content": "x"}]},
        "missing_user_message",
        "messages",
    ),
    ("empty message", user_says(""), "empty_message", "messages[0].content"),
    ("blank message", user_says(" \n\t "), "empty_message", "messages[0].content"),
    ("null content", user_says(None), "empty_message", "messages[0].content"),
    ("over-long message", user_says("长" * 2001), "message_too_long", "messages[0].content"),
    ("unknown model", {**user_says("hi"), "model": "gpt-4o"}, "model_not_found", "model"),
    (
        "missing model",
        {"user": "u1", "messages": [{"role": "user", "content": "hi"}]},
        "invalid_value",
        "model",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_input_is_a_400_error_object_and_stores_nothing(
    http: httpx.Client,
    shop_a: Tenant,
    db: Database,
    body: bytes | dict[str, Any],
    code: str,
    param: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = bearer(shop_a.keys.secret_key, **{"Content-Type": "application/json"})
    if isinstance(body, bytes):
        response = http.post(URL, content=body, headers=headers)
    else:
        response = http.post(URL, json=body, headers=headers)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert messages(db, shop_a.licensee.id) == 0
    assert "Traceback" not in caplog.text


def test_exactly_2000_characters_and_text_parts_are_accepted(
    http: httpx.Client, shop_a: Tenant
) -> None:
    headers = bearer(shop_a.keys.secret_key)
    assert http.post(URL, json=user_says("长" * 2000), headers=headers).status_code == 200
    parts = [
        {"type": "text", "text": "hello "},
        {"type": "image_url"},
        {"type": "text", "text": "there"},
    ]
    answer = http.post(URL, json=user_says(parts), headers=headers).json()
    assert answer["choices"][0]["message"]["content"] == "echo: hello there"


@pytest.mark.parametrize("which", ["none", "wrong", "site", "test site"])
def test_only_the_secret_key_is_accepted(
    http: httpx.Client, shop_a: Tenant, db: Database, which: str
) -> None:
    keys = shop_a.keys
    token = {
        "none": None,
        "wrong": "sk_nope",
        "site": keys.site_key,
        "test site": keys.test_site_key,
    }[which]
    headers = bearer(token) if token else {}
    response = http.post(URL, json=ask("hi"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = error_of(response)
    assert error["type"] == "authentication_error"
    assert "secret key" in error["message"]
    assert messages(db, shop_a.licensee.id) == 0


def test_the_openai_client_raises_its_own_typed_errors(live: LiveServer, shop_a: Tenant) -> None:
    client = OpenAI(base_url=f"{live.url}/v1", api_key=shop_a.keys.secret_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="kefu", messages=[{"role": "user", "content": "hi"}])
    assert bad.value.code == "missing_user"
    wrong = OpenAI(base_url=f"{live.url}/v1", api_key="sk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(
            model="kefu", messages=[{"role": "user", "content": "hi"}], user="u1"
        )


def test_a_suspended_licence_gets_403_and_stores_nothing(
    http: httpx.Client, shop_a: Tenant, db: Database
) -> None:
    db.run(partial(suspend, licensee_id=shop_a.licensee.id, now=utcnow()))
    response = http.post(URL, json=ask("hi"), headers=bearer(shop_a.keys.secret_key))
    assert response.status_code == 403
    error = error_of(response)
    assert (error["type"], error["code"]) == ("permission_error", "suspended")
    assert "suspended" in error["message"]
    assert messages(db, shop_a.licensee.id) == 0


def test_a_lapsed_licence_gets_403(http: httpx.Client, shop_a: Tenant, db: Database) -> None:
    lapsed = date.today() - timedelta(days=400)
    db.run(
        lambda conn: conn.execute(
            update(table_of(Licensee))
            .where(table_of(Licensee).c.id == shop_a.licensee.id)
            .values(service_end=lapsed)
        )
    )
    response = http.post(URL, json=ask("hi"), headers=bearer(shop_a.keys.secret_key))
    assert response.status_code == 403
    assert "lapsed" in error_of(response)["message"]
    assert messages(db, shop_a.licensee.id) == 0


def test_the_end_users_rate_limit_is_429_with_retry_after(
    tight_live: LiveServer, shop_a: Tenant, db: Database
) -> None:
    key = bearer(shop_a.keys.secret_key)
    with httpx.Client(base_url=tight_live.url, timeout=20) as client:
        for _ in range(2):
            assert client.post(URL, json=ask("hi", user="gus"), headers=key).status_code == 200
        limited = client.post(URL, json=ask("hi", user="gus"), headers=key)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert error_of(limited)["type"] == "rate_limit_error"
        # Another end user of the same key is not held back by gus's limit.
        assert client.post(URL, json=ask("hi", user="hal"), headers=key).status_code == 200
        # A refused request does not use up its Idempotency-Key: the retry is not a replay of
        # nothing, it is refused (or served) on its own.
        once = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "k"})
        assert client.post(URL, json=ask("hi", user="gus"), headers=once).status_code == 429
        assert client.post(URL, json=ask("hi", user="gus"), headers=once).status_code == 429
    assert messages(db, shop_a.licensee.id) == 6


def test_a_body_over_the_cap_is_413_before_it_is_read(
    live: LiveServer, http: httpx.Client, shop_a: Tenant, db: Database
) -> None:
    headers = bearer(shop_a.keys.secret_key, **{"Content-Type": "application/json"})
    history = [{"role": "user", "content": "长" * 2000}] * 180  # 1.08 MB, earlier turns
    body = {
        "model": "kefu",
        "user": "u1",
        "messages": [*history, {"role": "user", "content": "hi"}],
    }
    over = http.post(URL, json=body, headers=headers)
    assert over.status_code == 413
    error = error_of(over)
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert str(MAX_BODY_BYTES) in error["message"]
    # Without a Content-Length (chunked), it is cut off as it streams in.
    payload = json.dumps(body).encode()
    pieces = (payload[i : i + 65536] for i in range(0, len(payload), 65536))
    assert http.post(URL, content=pieces, headers=headers).status_code == 413
    # A body that fits, history and all, is answered.
    fits = {**body, "messages": [*history[:100], {"role": "user", "content": "hi"}]}
    assert http.post(URL, json=fits, headers=headers).status_code == 200
    assert messages(db, shop_a.licensee.id) == 2

    # A client announcing a huge body gets its answer without sending a byte of it.
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {shop_a.keys.secret_key}"
            "\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n".encode()
        )
        head = sock.recv(65536).decode("utf-8", "replace")
    assert head.startswith("HTTP/1.1 413 "), head


def test_the_keys_rate_limit_is_429_with_retry_after(
    key_tight_live: LiveServer, shop_a: Tenant, db: Database
) -> None:
    key = bearer(shop_a.keys.secret_key)
    with httpx.Client(base_url=key_tight_live.url, timeout=20) as client:
        for user in ("u1", "u2", "u3"):
            assert client.post(URL, json=ask("hi", user=user), headers=key).status_code == 200
        limited = client.post(URL, json=ask("hi", user="u4"), headers=key)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert error_of(limited)["code"] == "rate_limited"
    assert messages(db, shop_a.licensee.id) == 6


def test_a_key_revoked_after_use_is_refused_at_once(
    http: httpx.Client, shop_a: Tenant, db: Database
) -> None:
    key = bearer(shop_a.keys.secret_key)
    assert http.post(URL, json=ask("hi"), headers=key).status_code == 200  # verified, kept
    db.run(partial(revoke_key, key_or_id=shop_a.keys.secret_key, now=utcnow()))
    for _ in range(2):
        refused = http.post(URL, json=ask("again"), headers=key)
        assert refused.status_code == 401
        assert error_of(refused)["code"] == "invalid_api_key"
    assert messages(db, shop_a.licensee.id) == 2


def test_a_licence_suspended_after_use_is_refused_at_once(
    http: httpx.Client, shop_a: Tenant, db: Database
) -> None:
    key = bearer(shop_a.keys.secret_key)
    assert http.post(URL, json=ask("hi"), headers=key).status_code == 200
    db.run(partial(suspend, licensee_id=shop_a.licensee.id, now=utcnow()))
    refused = http.post(URL, json=ask("again"), headers=key)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "suspended"
    assert messages(db, shop_a.licensee.id) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_licence_suspended_mid_answer_ends_the_request_with_an_error(
    live: LiveServer, http: httpx.Client, shop_a: Tenant, db: Database, stream: bool
) -> None:
    live.answerer.delay = 1.0  # three pieces, a second apart: the suspension comes between
    key = bearer(shop_a.keys.secret_key)

    def suspend_soon() -> None:
        time.sleep(0.5)
        db.run(partial(suspend, licensee_id=shop_a.licensee.id, now=utcnow()))

    threading.Thread(target=suspend_soon).start()
    started = time.monotonic()
    response = http.post(URL, json=ask("hi", stream=stream), headers=key)
    assert time.monotonic() - started < 8  # ended by the licence watcher, not hanging
    if stream:
        assert response.status_code == 200  # the stream had begun
        last = list(events(response.text.splitlines()))[-1]
        assert isinstance(last, dict)
        assert last["error"]["code"] == "suspended"
        assert "[DONE]" not in response.text
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "suspended"
