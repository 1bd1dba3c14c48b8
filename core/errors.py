"""The one exception tree of Kefu: ``core`` raises these, each edge maps them in one place.

Each error carries what every edge needs as plain numbers, so ``core`` imports no web framework:
its HTTP status (the FastAPI handler in ``kefu/error_handler.py``), its WebSocket close code
(4000 + the HTTP status, so 4403 and 4503 as in docs/protocol.md) and its ``kefu`` exit code
(the wrapper in ``kefu/cli/command.py``).

KefuError                  anything Kefu refuses on purpose             HTTP 500   exit 1
├── ConfigError            settings that must not be used              HTTP 500   exit 6
│                          (the server refuses to start)
├── InvalidInput           a value an operator or client gave is wrong HTTP 400   exit 2
├── NotFound               no such licensee / key / package / origin   HTTP 404   exit 3
├── Conflict               it exists already (a licensee's name)       HTTP 409   exit 4
├── AuthError              unknown, revoked or wrong key               HTTP 401   exit 5
├── OriginRefused          Origin not among the licensee's allowed     HTTP 403   exit 5
├── LicenceUnavailable     suspended or revoked: HTTP 403, close 4403  exit 5
│                          under maintenance:    HTTP 503, close 4503
└── RateLimited            too many messages or conversations          HTTP 429   exit 5

Exit code 2 is also what the command line's parser returns for a malformed command.

Each error may also carry a stable ``code`` (``"licensee.not_found"``) and the ``values`` its
text is made of: the message stays plain English for the command line and the logs, and an edge
that speaks another language (the console) words the error from its code and values. An error
raised without a code is worded by its class alone (``"invalid"``, ``"not_found"``, …).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

CLOSE_CODE_BASE = 4000  # application close codes (RFC 6455 leaves 4000-4999 to applications)


class ExitCode(IntEnum):
    """What ``kefu`` returns to the shell."""

    OK = 0
    FAILED = 1  # the command ran and reports a failure (a knowledge-base file with bad rows)
    INVALID = 2
    NOT_FOUND = 3
    CONFLICT = 4
    REFUSED = 5
    CONFIG = 6


class KefuError(Exception):
    """Base of every error Kefu raises on purpose."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[ExitCode] = ExitCode.FAILED
    kind_code: ClassVar[str] = "failed"  # the code of an error of this class raised without one

    def __init__(self, message: str = "", /, *, code: str = "", **values: object) -> None:
        super().__init__(message)
        self.code = code or self.kind_code
        self.values = values

    @property
    def status(self) -> int:
        """This error's HTTP status (an instance may differ from its class's, see below)."""
        return self.http_status

    @property
    def close_code(self) -> int:
        """The WebSocket close code for this error: 4000 + its HTTP status."""
        return CLOSE_CODE_BASE + self.status


class ConfigError(KefuError):
    kind_code = "config"
    exit_code = ExitCode.CONFIG


class InvalidInput(KefuError):
    kind_code = "invalid"
    http_status = 400
    exit_code = ExitCode.INVALID


class NotFound(KefuError):
    kind_code = "not_found"
    http_status = 404
    exit_code = ExitCode.NOT_FOUND


class Conflict(KefuError):
    kind_code = "conflict"
    http_status = 409
    exit_code = ExitCode.CONFLICT


class AuthError(KefuError):
    kind_code = "auth"
    http_status = 401
    exit_code = ExitCode.REFUSED


class OriginRefused(KefuError):
    kind_code = "origin_refused"
    http_status = 403
    exit_code = ExitCode.REFUSED


class LicenceUnavailable(KefuError):
    http_status = 403
    exit_code = ExitCode.REFUSED

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, code=f"licence.{kind}")
        self.kind = kind  # "suspended" | "revoked" | "maintenance"

    @property
    def status(self) -> int:
        # Maintenance ends by itself (503, come back later); a suspension needs the licensor.
        return 503 if self.kind == "maintenance" else self.http_status


class RateLimited(KefuError):
    http_status = 429
    exit_code = ExitCode.REFUSED

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"rate limited, retry after {retry_after:.1f}s",
            code="rate_limited",
            seconds=round(retry_after, 1),
        )
        self.retry_after = retry_after
