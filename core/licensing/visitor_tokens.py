"""Visitor tokens: the signed visitor id a welcome hands out and the next hello brings back.

A token is ``<visitor id>.<signature>``, bound to one licensee by the signed message, so a token
never resumes anything at another licensee. A verified user's visitor is signed in another
domain: that token never resumes the user's conversation on its own (a browser after log-out, or
a rotated identity secret); only a ``hello.user`` that verifies does.
"""

from __future__ import annotations

from core.ids import sign, verify

MAX_TOKEN_CHARS = 100
VISITOR_PREFIX = "v_"


def _message(domain: str, licensee_id: str, visitor_id: str) -> str:
    return f"{domain}:{licensee_id}:{visitor_id}"


def issue(secret: str, licensee_id: str, visitor_id: str, *, verified_user: bool = False) -> str:
    """The token of ``visitor_id`` at ``licensee_id``; ``verified_user`` when it stands for a
    user proven by ``hello.user`` (such a token is never read back by ``visitor_of``)."""
    domain = "user-visitor" if verified_user else "visitor"
    return f"{visitor_id}.{sign(secret, _message(domain, licensee_id, visitor_id))}"


def visitor_of(secret: str, licensee_id: str, token: str | None) -> str | None:
    """The anonymous visitor id ``token`` proves at ``licensee_id``, else None (absent,
    malformed, forged, another licensee's, or a verified user's)."""
    if not token or len(token) > MAX_TOKEN_CHARS or "." not in token:
        return None
    visitor_id, _, signature = token.partition(".")
    if not visitor_id.startswith(VISITOR_PREFIX):
        return None
    if not verify(secret, _message("visitor", licensee_id, visitor_id), signature):
        return None
    return visitor_id
