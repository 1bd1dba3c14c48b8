"""OpenAI-style error objects for chat over HTTP: ``{"error": {message, type, code, param}}``.

OpenAI client libraries read this shape to raise their own typed errors (``BadRequestError``,
``AuthenticationError``, ``RateLimitError``...), so the chat routes answer in it rather than
in the ``{"detail"}`` body of the rest of the licensee API.
"""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.errors import KefuError, LicenceUnavailable

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """A request the chat routes refuse, with everything its error object says."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after

    @classmethod
    def of(cls, exc: KefuError) -> ApiError:
        """One of core's refusals (suspended licence, maintenance...) in this shape."""
        code = exc.kind if isinstance(exc, LicenceUnavailable) else type(exc).__name__.lower()
        return cls(exc.status, str(exc), code)

    def body(self) -> ErrorResponse:
        return ErrorResponse(
            error=ErrorBody(
                message=self.message,
                type=_TYPES.get(self.status, "api_error"),
                code=self.code,
                param=self.param,
            )
        )

    def response(self) -> JSONResponse:
        body = self.body()
        headers: dict[str, str] = {}
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return JSONResponse(body.model_dump(), self.status, headers)


KEYS_ACCEPTED = (
    "chat over HTTP takes the licensee's secret key (sk_...) as 'Authorization: Bearer'; "
    "site keys (pk_live_..., pk_test_...) are not accepted here"
)

# The responses every chat route may give besides its own, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": kind} for status, kind in _TYPES.items()
}
