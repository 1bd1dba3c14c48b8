"""The secret key of chat over HTTP, checked as an OpenAI-style 401 when it is wrong."""

from __future__ import annotations

import asyncio

from fastapi import Request

from bot.api.errors import KEYS_ACCEPTED, ApiError
from bot.chat.services import ChatServices
from core.db.tables import KeyKind
from core.errors import AuthError
from core.licensing.licensees import KeyContext, authenticate_key


async def secret_key(request: Request, services: ChatServices) -> KeyContext:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, f"missing key: {KEYS_ACCEPTED}", "missing_api_key")

    def check() -> KeyContext:
        with services.db.read_session() as session:
            return authenticate_key(session, token.strip(), {KeyKind.SECRET})

    try:
        return await asyncio.to_thread(check)
    except AuthError:
        # Said the same way for every wrong key, site keys included.
        raise ApiError(401, f"unknown or revoked key: {KEYS_ACCEPTED}", "invalid_api_key") from None
