"""Kefu's errors as HTTP responses: the one place that turns ``core.errors`` into a status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.errors import AuthError, KefuError, RateLimited

log = logging.getLogger("kefu.http")


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """``{"detail": message}`` with the error's status, the body FastAPI gives its own errors."""
    assert isinstance(exc, KefuError)  # registered for KefuError only
    status = exc.status
    headers: dict[str, str] = {}
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"  # RFC 9110: a 401 names the scheme it wants
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.http_status >= 500:  # a fault of the server, not of the request: say no more
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        return JSONResponse({"detail": "internal server error"}, status, headers)
    return JSONResponse({"detail": str(exc)}, status, headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KefuError, error_response)
