"""Kefu's errors as HTTP responses: the one place that turns ``core.errors`` into a status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin.i18n.errors import error_text
from admin.render import PAGE_ERRORS, error_page, request_language, wants_page
from core.errors import AuthError, KefuError, RateLimited

log = logging.getLogger("kefu.http")


async def error_response(request: Request, exc: Exception) -> Response:
    """``{"detail": message}`` with the error's status, the body FastAPI gives its own errors;
    the console's JSON API adds the error's stable ``code`` and words the message in the
    reader's language; a console page gets the console's error page instead."""
    assert isinstance(exc, KefuError)  # registered for KefuError only
    status = exc.status
    console = request.url.path.startswith("/admin")
    if wants_page(request.url.path) and status < 500:
        return error_page(request, status, error_text(exc, request_language(request)))
    headers: dict[str, str] = {}
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"  # RFC 9110: a 401 names the scheme it wants
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.http_status >= 500:  # a fault of the server, not of the request: say no more
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        return JSONResponse({"detail": "internal server error"}, status, headers)
    if console:
        message = error_text(exc, request_language(request))
        return JSONResponse({"detail": message, "code": exc.code}, status, headers)
    return JSONResponse({"detail": str(exc)}, status, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own errors (403 of a role, 404 of a route) as the console's error page when a
    person reads the console; everything else as FastAPI answers it."""
    assert isinstance(exc, StarletteHTTPException)
    if wants_page(request.url.path) and exc.status_code in PAGE_ERRORS:
        return error_page(request, exc.status_code)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KefuError, error_response)
    app.add_exception_handler(StarletteHTTPException, http_error)
