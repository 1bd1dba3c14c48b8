"""FastAPI dependencies of the chat server and licensee API, as ``Annotated`` aliases."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from bot.chat.services import ChatServices
from core.db.tables import KeyKind
from core.errors import AuthError
from core.licensing.licensees import KeyContext, authenticate_key


def services_of(app: FastAPI) -> ChatServices:
    services: ChatServices = app.state.chat
    return services


def get_services(request: Request) -> ChatServices:
    return services_of(request.app)


ServicesDep = Annotated[ChatServices, Depends(get_services)]


async def get_licensee_key(request: Request, services: ServicesDep) -> KeyContext:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing secret key")

    def check() -> KeyContext:
        with services.db.read_session() as session:
            return authenticate_key(session, token.strip(), {KeyKind.SECRET})

    try:
        return await asyncio.to_thread(check)
    except AuthError:
        # Said the same way for every wrong key, site keys included: the API takes secret keys.
        raise AuthError("unknown or revoked secret key") from None


LicenseeKeyDep = Annotated[KeyContext, Depends(get_licensee_key)]
