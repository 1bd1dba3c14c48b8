"""Server logs: one JSON object a line from a real ``kefu serve``, with ids and without secrets."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import pickle
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot import log_context
from core.db.engine import Database
from core.licensing.licensees import create_licensee
from core.settings import load_settings
from core.types import utcnow
from kefu.logging_config import (
    JsonFormatter,
    Masker,
    TextFormatter,
    configured_secrets,
    logging_config,
)
from testkit.chat_client import Chat
from testkit.processes import free_port, start_serve
from testkit.tenants import ORIGIN

BLOCKED = "网络赌博"  # on the built-in word list


@pytest.mark.slow
@pytest.mark.anyio
async def test_json_logs_carry_ids_and_no_secret(tmp_path: Path) -> None:
    server_secret = secrets.token_urlsafe(40)
    model_key = "sk-model-" + secrets.token_hex(16)
    metrics_token = "mt-" + secrets.token_hex(16)
    url = f"sqlite:///{tmp_path}/kefu.db"
    db = Database(url)
    db.migrate()
    with db.session() as session:
        _lic, keys = create_licensee(session, name="Logs", origins=[ORIGIN], now=utcnow())
        session.commit()
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATABASE_URL=url,
        KEFU_SECRET_KEY=server_secret,
        KEFU_LOG_FORMAT="json",
        KEFU_MODEL_API_KEY=model_key,
        KEFU_METRICS_TOKEN=metrics_token,
        KEFU_RETRIEVAL_ENCODER="off",
    )
    port = free_port()
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as out:
        proc = start_serve(env, port, out)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as client:
                # Secrets where a careless server would log them: in query strings (the access
                # log prints the path) and in headers.
                await client.get(f"/healthz?token={server_secret}&key={keys.secret_key}")
                await client.get(f"/metrics?access_token={metrics_token}")
                await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
                usage = await client.get(
                    "/v1/usage/conversations",
                    headers={"Authorization": f"Bearer {keys.secret_key}"},
                )
                assert usage.status_code < 500
                tagged = await client.get("/readyz", headers={"X-Request-ID": "edge-42.a"})
                assert tagged.headers["x-request-id"] == "edge-42.a"
                forged = await client.get("/readyz", headers={"X-Request-ID": "x" * 65})
                assert forged.headers["x-request-id"] != "x" * 65
            chat = await Chat.start(f"ws://127.0.0.1:{port}", keys.site_key)
            ack, frames = await chat.ask("m1", f"请问{BLOCKED}")
            assert frames[-1]["type"] == "reply.end"
            await chat.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    raw = log_file.read_text(encoding="utf-8")

    for secret in (server_secret, model_key, metrics_token, keys.secret_key, keys.site_key):
        assert secret not in raw
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert all(line["ts"].endswith("Z") for line in lines)

    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    health = next(line for line in access if line["path"].startswith("/healthz?"))
    assert health["path"] == "/healthz?token=***&key=sk_live_***"  # there, and masked
    assert health["status"] == 200 and len(health["request_id"]) == 16
    assert len({line["request_id"] for line in access}) == len(access)  # one id a request
    assert any(line.get("request_id") == "edge-42.a" for line in access)
    assert not any(line.get("request_id") == "x" * 65 for line in access)
    socket_line = next(line for line in lines if "WebSocket /v1/chat" in line["msg"])
    assert "key=pk_live_***" in socket_line["msg"] and "request_id" in socket_line

    block = next(line for line in lines if "content filter stopped" in line["msg"])
    assert block["level"] == "WARNING" and block["logger"] == "kefu.chat"
    assert block["conversation_id"] == ack["conversation"]["id"]
    assert "request_id" in block  # the socket's handshake request


def test_the_masker_hides_credentials_and_configured_secrets() -> None:
    mask = Masker(["s3cr3t-value-1234", "short"])
    cases = {
        "GET /v1/chat?key=pk_live_AbC123_-x HTTP/1.1": "GET /v1/chat?key=pk_live_*** HTTP/1.1",
        "using sk_live_Zz9 and pk_test_q": "using sk_live_*** and pk_test_***",
        "secret idv_0a1b2c": "secret idv_***",
        "Authorization: Bearer abc.def-ghi": "Authorization: Bearer ***",
        "?token=abc&page=2": "?token=***&page=2",
        "&password=hunter2 next": "&password=*** next",
        'api_key="k-1" ok': 'api_key="***" ok',
        "postgresql+psycopg://kefu:pa55@db:5432/kefu": "postgresql+psycopg://kefu:***@db:5432/kefu",
        "redis://:pa55@127.0.0.1:6379/0": "redis://:***@127.0.0.1:6379/0",
        "the secret is s3cr3t-value-1234!": "the secret is ***!",
        "a short word stays": "a short word stays",  # under 8 characters: not a secret
        "价格 100 元，订单 A-1": "价格 100 元，订单 A-1",
    }
    for given, expected in cases.items():
        assert mask(given) == expected


def test_configured_secrets_include_passwords_in_urls() -> None:
    settings = load_settings(
        database_url="postgresql+psycopg://kefu:db-pass-123@127.0.0.1/kefu",
        redis_url="redis://:redis-pass-456@127.0.0.1:6379/0",
        secret_key=SecretStr("k" * 40),
        model_api_key=SecretStr("model-key-789"),
    )
    found = configured_secrets(settings)
    assert {"db-pass-123", "redis-pass-456", "k" * 40, "model-key-789"} <= set(found)


def _record(msg: str, *args: Any, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("token=leaked-value-000")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("kefu.chat", logging.ERROR, __file__, 1, msg, args, info)


def test_formatters_mask_messages_and_tracebacks_and_name_the_conversation() -> None:
    mask = Masker(["server-secret-xyz"])
    log_context.follow_conversation(lambda: "conv_1")
    try:
        record = _record("failed for %s", "server-secret-xyz", exc=True)
        out = json.loads(JsonFormatter(mask).format(record))
        text = TextFormatter(mask).format(record)
    finally:
        log_context.follow_conversation(lambda: None)
    assert out["msg"] == "failed for ***" and out["conversation_id"] == "conv_1"
    assert "ValueError: token=***" in out["exc"] and "leaked-value-000" not in out["exc"]
    first = text.splitlines()[0]
    assert first.endswith("ERROR kefu.chat: failed for *** [conversation_id=conv_1]")
    assert "leaked-value-000" not in text and "server-secret-xyz" not in text
    # A Chinese message stays readable in JSON, not \\u-escaped.
    assert "订单" in JsonFormatter(mask).format(_record("订单 %s", "A-1"))


def test_the_logging_config_reaches_spawned_workers_intact(tmp_path: Path) -> None:
    """uvicorn pickles the config for each worker process it spawns: it must survive that and
    still mask."""
    secret = secrets.token_urlsafe(40)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path}/kefu.db",
        secret_key=SecretStr(secret),
        log_format="json",
    )
    config = pickle.loads(pickle.dumps(logging_config(settings)))
    stream = io.StringIO()
    config["handlers"]["stderr"]["stream"] = stream
    logger = logging.getLogger("kefu.test_config")
    touched = [logging.getLogger(name) for name in ("", *config["loggers"])]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in touched]
    try:
        logging.config.dictConfig(config)
        logger.warning("the secret is %s", secret)
    finally:  # the test process's logging as it was
        for lg, (handlers, level, propagate) in zip(touched, saved, strict=True):
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
    line = json.loads(stream.getvalue())
    assert line["msg"] == "the secret is ***" and line["logger"] == "kefu.test_config"
