"""Allowed origins: normalising ``scheme://host[:port]`` and matching ``https://*.example.com``."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.errors import InvalidInput

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(value: str, *, allow_wildcard: bool) -> tuple[str, str, int]:
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InvalidInput(
            f"not an origin: {value!r}", code="origin.malformed", value=value
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidInput(
            f"origin must be http:// or https://, got {value!r}", code="origin.scheme", value=value
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput(
            f"an origin is scheme://host[:port] only, got {value!r}",
            code="origin.extra_parts",
            value=value,
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInput(f"origin has no host: {value!r}", code="origin.no_host", value=value)
    wildcard = host.startswith("*.")
    if "*" in host and not (allow_wildcard and wildcard and "*" not in host[2:]):
        raise InvalidInput(
            f"only a leading '*.' wildcard is allowed: {value!r}",
            code="origin.wildcard",
            value=value,
        )
    labels = host[2:] if wildcard else host
    try:
        labels = labels.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(
            f"bad host name in {value!r}", code="origin.bad_host", value=value
        ) from None
    if wildcard and "." not in labels:
        raise InvalidInput(
            f"a wildcard needs a domain below it: {value!r}",
            code="origin.wildcard_domain",
            value=value,
        )
    return scheme, ("*." if wildcard else "") + labels, port or _DEFAULT_PORTS[scheme]


def _render(scheme: str, host: str, port: int) -> str:
    suffix = "" if _DEFAULT_PORTS[scheme] == port else f":{port}"
    return f"{scheme}://{host}{suffix}"


def normalise_pattern(value: str) -> str:
    """The canonical form an allowed origin is stored in (lower case, default port dropped)."""
    return _render(*_split(value, allow_wildcard=True))


def normalise_origin(value: str | None) -> str | None:
    """The canonical form of a request's ``Origin`` header, or None when it is missing/opaque."""
    if value is None or value.strip().lower() in ("", "null"):
        return None
    try:
        return _render(*_split(value, allow_wildcard=False))
    except InvalidInput:
        return None


def origin_allowed(origin: str | None, patterns: list[str]) -> bool:
    """True when ``origin`` (raw header) matches one stored pattern exactly or by wildcard.

    ``https://*.example.com`` matches any sub-domain of example.com on https and port 443, but
    neither ``example.com`` itself nor ``shop.example.com.evil.com`` nor ``http://`` origins.
    """
    canonical = normalise_origin(origin)
    if canonical is None:
        return False
    scheme, _, rest = canonical.partition("://")
    host, _, port = rest.partition(":")
    for pattern in patterns:
        if pattern == canonical:
            return True
        p_scheme, _, p_rest = pattern.partition("://")
        if p_scheme != scheme or not p_rest.startswith("*."):
            continue
        p_host, _, p_port = p_rest.partition(":")
        if p_port == port and host.endswith(p_host[1:]) and len(host) > len(p_host) - 1:
            return True
    return False
