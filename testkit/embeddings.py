"""A fake embeddings endpoint on 127.0.0.1: OpenAI's ``/v1/embeddings`` and Ollama's
``/api/embed`` on one real HTTP server, with vectors that depend on the words of each text.

    with FakeEmbeddings(dimensions=16) as fake:
        fake.delay = 3.0        # every answer comes this late (a timeout)
        fake.status = 500       # every answer is this error
        fake.dimensions = 8     # vectors of another size from now on
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import numpy as np

from testkit.providers import Call, Request, Responder, _FakeServer


def word_vector(text: str, dimensions: int) -> list[float]:
    """A bag of words hashed into ``dimensions`` values: texts sharing words are close."""
    out = np.zeros(dimensions, dtype=np.float32)
    for word in text.lower().replace("?", " ").split():
        out[hashlib.sha256(word.encode()).digest()[0] % dimensions] += 1.0
    return [float(x) for x in out]


class FakeEmbeddings(_FakeServer):
    default_model = "fake-embed"
    base_path = "/v1"

    def __init__(self, dimensions: int = 16) -> None:
        super().__init__()
        self.dimensions = dimensions
        self.delay = 0.0
        self.status = 200

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        """Every text asked to be encoded, in order."""
        out: list[str] = []
        for call in self.calls:
            given = call.body.get("input")
            out += [given] if isinstance(given, str) else list(given or [])
        return out

    async def handle(self, request: Request, out: Responder) -> bool:
        if request.method != "POST" or request.path not in ("/v1/embeddings", "/api/embed"):
            await out.send_json(404, {"error": "not found"})
            return True
        body = json.loads(request.body or b"{}")
        self._record(
            Call(request.path, body, 0.0, dict(request.headers), request.connection,
                 str(body.get("model", "")))
        )  # fmt: skip
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status >= 400:
            await out.send_json(self.status, {"error": {"message": "the server had an error"}})
            return True
        given = body.get("input")
        texts = [given] if isinstance(given, str) else list(given)
        vectors = [word_vector(str(t), self.dimensions) for t in texts]
        if request.path == "/api/embed":
            await out.send_json(200, {"model": body.get("model"), "embeddings": vectors})
            return True
        data: list[dict[str, Any]] = []
        for i, vector in enumerate(vectors):
            value: Any = vector
            if body.get("encoding_format") == "base64":
                value = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        payload = {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        await out.send_json(200, payload)
        return True
