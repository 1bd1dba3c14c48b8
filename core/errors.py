"""The one exception tree of Kefu: ``core`` raises these, the edges map them to HTTP/WS codes.

KefuError
├── ConfigError            settings that must not be used (the server refuses to start)
├── NotFound               no such licensee / key / conversation          -> HTTP 404
├── InvalidInput           a value an operator or client gave is wrong    -> HTTP 400/exit 2
├── AuthError              unknown, revoked or wrong key                  -> HTTP 401
├── OriginRefused          Origin not among the licensee's allowed ones   -> HTTP 403
├── LicenceUnavailable     suspended / revoked / maintenance              -> notice + 4403/4503
└── RateLimited            too many messages or conversations             -> error rate_limited
"""

from __future__ import annotations


class KefuError(Exception):
    """Base of every error Kefu raises on purpose."""


class ConfigError(KefuError):
    pass


class NotFound(KefuError):
    pass


class InvalidInput(KefuError):
    pass


class AuthError(KefuError):
    pass


class OriginRefused(KefuError):
    pass


class LicenceUnavailable(KefuError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "suspended" | "revoked" | "maintenance"


class RateLimited(KefuError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.1f}s")
        self.retry_after = retry_after
