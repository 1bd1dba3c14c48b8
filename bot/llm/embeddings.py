"""Sentence vectors from a model platform's embeddings endpoint, through LangChain's classes.

OpenAI-compatible ``/v1/embeddings`` (``OpenAIEmbeddings``; e.g. BAAI/bge-m3 on SiliconFlow) or
Ollama's ``/api/embed`` (``OllamaEmbeddings``). The calls are blocking: retrieval runs in worker
threads, never on the event loop. Any failure raises ``EmbeddingsFailed``; the caller falls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from bot.llm.backends import PRODUCERS, Provider

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

FloatArray = npt.NDArray[np.float32]


class EmbeddingsFailed(Exception):
    """The endpoint did not give one vector of the expected size per text."""


@dataclass(frozen=True, slots=True)
class EmbeddingsSpec:
    provider: Provider
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never printed nor logged
    timeout: float = 2.0  # seconds per call: a question waits for it

    def __post_init__(self) -> None:
        if self.provider not in PRODUCERS:
            raise ValueError(f"unknown embeddings provider {self.provider!r}")
        if not self.base_url.startswith(("http://", "https://")) or not self.model:
            raise ValueError("an embeddings endpoint needs an http(s) base URL and a model name")
        if self.timeout <= 0:
            raise ValueError("the embeddings timeout must be positive")

    @property
    def encoder_name(self) -> str:
        """Names the vectors it makes (stored vectors are kept per name)."""
        return f"{self.provider}:{self.base_url.rstrip('/')}:{self.model}"


class EndpointEncoder:
    """A ``TextEncoder`` over an embeddings endpoint. The first answer fixes the size every
    later vector must have; a vector of another size is a failure, not a result."""

    def __init__(self, spec: EmbeddingsSpec) -> None:
        self.name = spec.encoder_name
        self.dimensions: int | None = None
        self._model, self._http = build_embeddings(spec)

    def close(self) -> None:
        """Close its connections (at shutdown, or in tests)."""
        if self._http is not None:
            self._http.close()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        try:
            vectors = self._model.embed_documents(list(texts))
        except Exception as exc:
            raise EmbeddingsFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        try:
            array = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbeddingsFailed("vectors of different sizes") from exc
        if array.ndim != 2 or array.shape[0] != len(texts) or array.shape[1] == 0:
            raise EmbeddingsFailed(f"{array.shape} values for {len(texts)} texts")
        if self.dimensions is None:
            self.dimensions = int(array.shape[1])
        elif array.shape[1] != self.dimensions:
            raise EmbeddingsFailed(f"{array.shape[1]} dimensions, not {self.dimensions}")
        if not np.isfinite(array).all():
            raise EmbeddingsFailed("vectors that are not numbers")
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit: FloatArray = (array / norms).astype(np.float32)
        return unit


def build_embeddings(spec: EmbeddingsSpec) -> tuple[Embeddings, Any]:
    """LangChain's embeddings object for ``spec`` and its HTTP client (imported here: LangChain
    is slow to import)."""
    if spec.provider == "openai":
        import openai
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr

        http = openai.DefaultHttpxClient(timeout=spec.timeout)
        model = OpenAIEmbeddings(
            model=spec.model,
            openai_api_base=spec.base_url,
            # Never the OPENAI_API_KEY of the environment: it would go to whatever host this is.
            openai_api_key=SecretStr(spec.api_key or "unused"),
            # Counting tokens needs tiktoken's tables (downloaded) and OpenAI's own models:
            # other models take the texts as they are.
            check_embedding_ctx_length=False,
            tiktoken_enabled=False,
            max_retries=0,  # a question does not wait for retries: it falls back at once
            request_timeout=spec.timeout,
            http_client=http,
        )
        return model, http
    from langchain_ollama import OllamaEmbeddings

    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    ollama = OllamaEmbeddings(
        model=spec.model,
        base_url=spec.base_url,
        client_kwargs={"headers": headers, "timeout": spec.timeout},
    )
    # The ollama client's httpx client: its one connection pool.
    return ollama, getattr(getattr(ollama, "_client", None), "_client", None)
