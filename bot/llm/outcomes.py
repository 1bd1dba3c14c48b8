"""How a failed model call ended, told from the exception the provider's client raised.

Works by duck typing and class names, so that neither the OpenAI SDK, nor httpx, nor the Ollama
client has to be imported to tell their errors apart.
"""

from __future__ import annotations

import json

from bot.answerers.contract import CallOutcome
from bot.llm.errors import ModelCallFailed

# Said by providers about a model they no longer serve (OpenAI: 404 model_not_found).
RETIRED_MARKERS = (
    "model_not_found",
    "does not exist",
    "deprecated",
    "decommissioned",
    "no longer available",
    "no longer supported",
    "model not found",
    "try pulling it",
)
# The request could not be sent at all (as opposed to a response cut short).
_CONNECT = {"ConnectError", "ConnectTimeout", "UnsupportedProtocol", "InvalidURL", "ProxyError"}
_CUT = {
    "RemoteProtocolError",
    "ReadError",
    "WriteError",
    "EndOfStream",
    "BrokenResourceError",
    "ClosedResourceError",
    "IncompleteRead",
    "APIConnectionError",
}
_TIMEOUTS = {"APITimeoutError", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException"}
MAX_DETAIL = 200


def classify(
    exc: BaseException, *, got_content: bool, secret: str | None = None
) -> ModelCallFailed:
    """The ModelCallFailed that ``exc`` amounts to; ``secret`` never appears in its detail."""
    if isinstance(exc, ModelCallFailed):
        return exc
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    detail = _detail(exc, secret)
    if any(isinstance(e, TimeoutError) for e in chain) or names & _TIMEOUTS:
        if got_content:
            return ModelCallFailed(CallOutcome.TIMEOUT_TOTAL, detail)
        return ModelCallFailed(CallOutcome.TIMEOUT_FIRST_TOKEN, detail)
    status = getattr(exc, "status_code", None)
    said = f"{exc} {getattr(exc, 'code', '') or ''} {getattr(exc, 'body', '') or ''}".lower()
    if isinstance(status, int) and status >= 400:
        retired = status == 404 or any(m in said for m in RETIRED_MARKERS)
        outcome = CallOutcome.RETIRED if retired else CallOutcome.HTTP_ERROR
        return ModelCallFailed(outcome, f"HTTP {status}: {detail}")
    if names & _CONNECT or any(isinstance(e, ConnectionRefusedError) for e in chain):
        return ModelCallFailed(CallOutcome.HTTP_ERROR, f"could not connect: {detail}")
    if type(exc) is ConnectionError and not got_content:
        return ModelCallFailed(CallOutcome.HTTP_ERROR, f"could not connect: {detail}")
    if names & _CUT or any(isinstance(e, ConnectionError) for e in chain):
        return ModelCallFailed(CallOutcome.MALFORMED, f"stream cut: {detail}")
    if any(isinstance(e, json.JSONDecodeError) for e in chain):
        return ModelCallFailed(CallOutcome.MALFORMED, f"invalid chunk: {detail}")
    if isinstance(status, int) or type(exc).__name__ in {"APIError", "ResponseError"}:
        # An error reported inside the stream (no HTTP status, or Ollama's -1).
        retired = any(m in said for m in RETIRED_MARKERS)
        outcome = CallOutcome.RETIRED if retired else CallOutcome.HTTP_ERROR
        return ModelCallFailed(outcome, f"provider error: {detail}")
    return ModelCallFailed(CallOutcome.MALFORMED, detail)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _detail(exc: BaseException, secret: str | None) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if secret:
        text = text.replace(secret, "***")
    return text[:MAX_DETAIL]
