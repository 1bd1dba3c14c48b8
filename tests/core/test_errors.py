"""The exception tree: every error carries its HTTP status, close code and exit code."""

from __future__ import annotations

from core.chat.frames import CloseCode
from core.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ExitCode,
    InvalidInput,
    KefuError,
    LicenceUnavailable,
    NotFound,
    OriginRefused,
    RateLimited,
)


def test_licence_close_codes_are_the_protocols() -> None:
    assert LicenceUnavailable("suspended", "x").close_code == CloseCode.SUSPENDED
    assert LicenceUnavailable("revoked", "x").close_code == CloseCode.SUSPENDED
    assert LicenceUnavailable("maintenance", "x").close_code == CloseCode.MAINTENANCE


def test_every_error_has_its_own_codes() -> None:
    errors: list[KefuError] = [
        KefuError("x"),
        ConfigError("x"),
        InvalidInput("x"),
        NotFound("x"),
        Conflict("x"),
        AuthError("x"),
        OriginRefused("x"),
        RateLimited(1.0),
    ]
    assert [(e.status, e.exit_code) for e in errors] == [
        (500, ExitCode.FAILED),
        (500, ExitCode.CONFIG),
        (400, ExitCode.INVALID),
        (404, ExitCode.NOT_FOUND),
        (409, ExitCode.CONFLICT),
        (401, ExitCode.REFUSED),
        (403, ExitCode.REFUSED),
        (429, ExitCode.REFUSED),
    ]
    assert all(e.close_code >= 4000 for e in errors)
