"""The server's logs: text or one JSON object a line, request and conversation ids, no secrets.

``logging_config(settings)`` is the ``dictConfig`` that ``kefu serve`` hands to uvicorn, so its
own lines (start-up, access log) and the product's go through one handler on stderr. Every line
is masked before it is written: the configured secrets wherever they appear, and whatever looks
like a credential (API keys, bearer tokens, ``key=``/``token=``/``password=`` query values,
passwords in URLs), in the message and in a traceback alike.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from bot import log_context
from core.settings import Settings

MASK = "***"
_KINDS = r"(?:pk_live_|pk_test_|sk_live_|idv_)"
_PATTERNS = [
    # The product's keys and identity secrets: the kind stays readable, the rest goes.
    (re.compile(rf"\b({_KINDS})[A-Za-z0-9_\-]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + MASK),
    (
        re.compile(
            r"(?i)((?:^|[?&;,{\s\"'])"
            r"(?:key|token|access_token|api_key|apikey|secret|password|passwd|authorization)"
            rf"[\"']?\s*[=:]\s*[\"']?)(?!{_KINDS}|(?:bearer|basic)\s)[^&\s\"',;]+"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s@]+@"), r"\1" + MASK + "@"),
]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


class Masker:
    """Removes the configured secrets and anything credential-shaped from a text."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is masked whole; short strings
        # would mask ordinary words, and no real secret is that short.
        self._literals = sorted({s for s in literals if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value the settings hold, including passwords inside URLs."""
    found = [settings.secret()]
    for value in (settings.model_api_key, settings.model_fallback_api_key, settings.metrics_token):
        if value is not None:
            found.append(value.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        if url:
            try:
                password = make_url(url).password
            except Exception:  # a URL SQLAlchemy cannot read holds nothing it can find
                password = None
            if password:
                found.append(str(password))
    return found


def _context() -> dict[str, str]:
    fields: dict[str, str] = {}
    rid = log_context.request_id.get()
    if rid is not None:
        fields["request_id"] = rid
    try:
        conversation = log_context.conversation_id()
    except Exception:  # a log line never fails because its context is half built
        conversation = None
    if conversation is not None:
        fields["conversation_id"] = conversation
    return fields


class TextFormatter(logging.Formatter):
    """``2026-12-06T08:00:00.123Z INFO kefu.chat: message [request_id=… conversation_id=…]``."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._mask = masker

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = f"{stamp[:-6]}Z {record.levelname} {record.name}: {record.getMessage()}"
        context = _context()
        if context:
            line += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._mask(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC), level, logger, msg, the ids, and exc when there is one."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._mask = masker

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "ts": stamp[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": self._mask(record.getMessage()),
        }
        out.update(_context())
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _version, status = args
            out.update(client=str(client), method=str(method), path=self._mask(str(path)))
            out["status"] = status
        if record.exc_info:
            out["exc"] = self._mask(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def make_formatter(kind: str, secrets: list[str]) -> logging.Formatter:
    """The formatter ``logging_config`` names (``dictConfig`` calls it with plain values)."""
    masker = Masker(secrets)
    return JsonFormatter(masker) if kind == "json" else TextFormatter(masker)


def logging_config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a server process, uvicorn's loggers included.

    Plain data only (the formatter by its import path): uvicorn hands it to worker processes,
    which it starts with ``spawn`` and so must pickle it."""
    level = settings.log_level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "kefu": {
                "()": "kefu.logging_config.make_formatter",
                "kind": settings.log_format,
                "secrets": configured_secrets(settings),
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "kefu",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        # uvicorn's loggers keep no handlers of their own: every line goes through the one above.
        "loggers": {
            name: {"handlers": [], "level": level, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestIds:
    """ASGI middleware: each HTTP request and WebSocket gets a request id for its log lines.

    A well-formed ``X-Request-ID`` from the proxy in front is kept (one id across nginx and
    the server's lines); otherwise a new one is made. HTTP responses carry it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        log_context.request_id.set(rid)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
