"""Which model provider answers, and the LangChain chat model for it, built once per process.

LangChain, the OpenAI SDK and the Ollama client are imported on first use only (importing them
takes over a second); ``warm_up`` imports them ahead of time, e.g. in a background thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

Provider = Literal["openai", "ollama"]
PRODUCERS: dict[str, str] = {"openai": "openai-compatible", "ollama": "ollama"}


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """One model at one provider. ``provider="openai"`` means any OpenAI-compatible API."""

    provider: Provider
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never printed nor logged
    first_token_timeout: float = 10.0  # seconds from the request to the first content
    total_timeout: float = 60.0  # seconds from the request to the end of the stream

    def __post_init__(self) -> None:
        if self.provider not in PRODUCERS:
            raise ValueError(f"unknown model provider {self.provider!r}")
        if not self.base_url.startswith(("http://", "https://")) or not self.model:
            raise ValueError("a model backend needs an http(s) base URL and a model name")
        if self.first_token_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("model timeouts must be positive")

    @property
    def producer(self) -> str:
        """The name the chat protocol's ``ai.producer`` gives this kind of provider."""
        return PRODUCERS[self.provider]

    @property
    def account(self) -> str:
        """The provider account the token ledger charges: the API's host (and port), e.g.
        ``api.deepseek.com``; token packages and prices are registered under the same name."""
        return urlsplit(self.base_url).netloc.lower()


_lock = threading.Lock()
_models: dict[BackendSpec, BaseChatModel] = {}
_openai_http: Any = None  # one httpx2 client (the OpenAI SDK's) for every OpenAI-compatible API
_ollama_transport: Any = None  # one httpx connection pool for every Ollama client


def chat_model(spec: BackendSpec) -> BaseChatModel:
    """The LangChain chat model for ``spec``: built on first use, then the same object."""
    with _lock:
        model = _models.get(spec)
        if model is None:
            model = _build_openai(spec) if spec.provider == "openai" else _build_ollama(spec)
            _models[spec] = model
        return model


async def aclose_clients() -> None:
    """Close the shared HTTP connections and forget the models (at shutdown, or between tests:
    the connections belong to the event loop that opened them)."""
    global _openai_http, _ollama_transport
    with _lock:
        http, transport = _openai_http, _ollama_transport
        _openai_http = _ollama_transport = None
        _models.clear()
    if http is not None:
        await http.aclose()
    if transport is not None:
        await transport.aclose()


def warm_up() -> None:
    """Import everything a first model call needs, so that it does not pay for it."""
    import langchain_core.messages  # noqa: F401
    import langchain_ollama  # noqa: F401
    import langchain_openai  # noqa: F401

    from bot.llm.guard import leak_automaton

    leak_automaton()


def _pool_limits() -> Any:  # httpx is imported late, like the SDKs
    import httpx

    return httpx.Limits(max_connections=2000, max_keepalive_connections=500, keepalive_expiry=60)


def _build_openai(spec: BackendSpec) -> BaseChatModel:
    global _openai_http
    import openai
    from langchain_openai import ChatOpenAI

    if _openai_http is None:
        # Every concurrent stream holds a connection: the SDK's default pool (100) is smaller
        # than the conversations one process streams at once, and a connection opened per
        # answer costs a TCP and TLS handshake on the request path.
        _openai_http = openai.DefaultAsyncHttpxClient(limits=_pool_limits())
    return ChatOpenAI(
        model=spec.model,
        base_url=spec.base_url,
        # Never let the SDK fall back to an OPENAI_API_KEY from the environment: it would be
        # sent to whatever endpoint this spec names. Keyless local servers accept anything.
        api_key=spec.api_key or "unused",
        streaming=True,
        stream_usage=True,
        max_retries=0,  # the fallback chain decides what happens next, at once
        timeout=spec.total_timeout,
        stream_chunk_timeout=None,  # the answerer enforces its own deadlines
        http_async_client=_openai_http,
    )


def _build_ollama(spec: BackendSpec) -> BaseChatModel:
    global _ollama_transport
    import httpx
    from langchain_ollama import ChatOllama

    if _ollama_transport is None:
        _ollama_transport = httpx.AsyncHTTPTransport(limits=_pool_limits())
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    return ChatOllama(
        model=spec.model,
        base_url=spec.base_url,
        client_kwargs={"headers": headers, "timeout": spec.total_timeout},
        async_client_kwargs={"transport": _ollama_transport},
    )
