"""Secrets the server must read back (model providers' API keys), sealed at rest.

Keys are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key
derived from the server secret with HKDF, so a copy of the database alone does not reveal them.
Sealed values are never shown back by the CLI or the API, and never logged.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"kefu/secret-box/v1"
_INFO = b"model provider api keys"


class SealError(ValueError):
    """A sealed value that this server secret cannot open (changed secret, or tampering)."""


@functools.lru_cache(maxsize=4)
def _box(server_secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        server_secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(server_secret: str, plaintext: str) -> str:
    return _box(server_secret).encrypt(plaintext.encode("utf-8")).decode("ascii")


def unseal(server_secret: str, sealed: str) -> str:
    try:
        return _box(server_secret).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SealError("a sealed secret cannot be opened with this server secret") from exc
