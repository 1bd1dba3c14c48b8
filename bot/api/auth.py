"""The secret key of chat over HTTP, checked as an OpenAI-style 401 when it is wrong.

``POST /v1/chat/completions`` reuses a key it verified in the last few seconds (``KeyCache``)
instead of reading the key, the licensee and its origins again for every message: the same
trust a WebSocket gives its key for the whole connection, and less. Revocation still holds at
once, because the write that stores a message checks that its key is unrevoked (as for a
socket); a refusal there drops the key from the cache. The other routes check every time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from fastapi import Request

from bot.api.errors import KEYS_ACCEPTED, ApiError
from bot.chat.services import ChatServices
from core.db.tables import KeyKind
from core.errors import AuthError
from core.ids import token_hash
from core.licensing.licensees import KeyContext, authenticate_key

# Reusing verified keys (with the memory read cut to 10 messages beside it), an A/B in one run
# of bench/http_chat.py, 50 clients, load average 10.8: added p50 254 -> 118 ms, p99 550 -> 276 ms.
# How long a verified key is trusted for its licensee's settings (a licence lapsing, a changed
# idle time...). What must hold at once (revocation, suspension) is checked in the write.
KEY_TRUST_SECONDS = 10.0
KEYS_KEPT = 4096


class KeyCache:
    """Secret keys verified recently, by their hash, oldest first."""

    def __init__(self, ttl: float = KEY_TRUST_SECONDS, size: int = KEYS_KEPT) -> None:
        self.ttl = ttl
        self.size = size
        self._keys: OrderedDict[str, tuple[float, KeyContext]] = OrderedDict()

    def get(self, digest: str) -> KeyContext | None:
        found = self._keys.get(digest)
        if found is None:
            return None
        until, ctx = found
        if time.monotonic() >= until:
            del self._keys[digest]
            return None
        return ctx

    def put(self, digest: str, ctx: KeyContext) -> None:
        self._keys.pop(digest, None)
        self._keys[digest] = (time.monotonic() + self.ttl, ctx)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def forget(self, digest: str) -> None:
        self._keys.pop(digest, None)


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, f"missing key: {KEYS_ACCEPTED}", "missing_api_key")
    return token.strip()


def key_cache(request: Request) -> KeyCache:
    """The app's cache of verified keys (one per app: per server process)."""
    state = request.app.state
    cache: KeyCache | None = getattr(state, "api_key_cache", None)
    if cache is None:
        cache = state.api_key_cache = KeyCache()
    return cache


async def secret_key(request: Request, services: ChatServices, reuse: bool = False) -> KeyContext:
    """The request's licensee and key; with ``reuse``, a key verified in the last
    ``KEY_TRUST_SECONDS`` is taken as it was (for a caller whose write checks revocation)."""
    token = _token(request)
    digest = token_hash(token) if reuse else ""
    if reuse and (known := key_cache(request).get(digest)) is not None:
        return known

    def check() -> KeyContext:
        with services.db.read_session() as session:
            return authenticate_key(session, token, {KeyKind.SECRET})

    try:
        ctx = await asyncio.to_thread(check)
    except AuthError:
        # Said the same way for every wrong key, site keys included.
        raise ApiError(401, f"unknown or revoked key: {KEYS_ACCEPTED}", "invalid_api_key") from None
    if reuse:
        key_cache(request).put(digest, ctx)
    return ctx


def forget_key(request: Request) -> None:
    """Drop the request's key from the cache: its write found it revoked, or its licence
    unable to serve, so the next request reads it afresh."""
    key_cache(request).forget(token_hash(_token(request)))
