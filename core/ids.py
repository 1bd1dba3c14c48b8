"""Opaque, time-ordered identifiers and secret tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


class _RandomPool(threading.local):
    """Random bytes from the OS, fetched 4 KiB at a time per thread.

    One ``os.urandom`` call per identifier releases the GIL each time; on the event loop every
    release can hand the interpreter to a busy thread for a whole switch interval.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buffer = b""
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.buffer):
            self.buffer, self.at = os.urandom(4096), 0
        self.at += n
        return self.buffer[self.at - n : self.at]


_pool = _RandomPool()
# A forked child must not hand out the parent's remaining bytes again.
os.register_at_fork(after_in_child=_pool.reset)


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 characters: 48 bits of milliseconds then 80 random bits (ULID layout).

    Time order keeps B-tree inserts at the right edge of the index, which matters for the
    write rate of conversations and messages.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(_pool.take(10), "big")
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


def new_token(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token: enough for random keys, and constant-time to look up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign(secret: str, message: str, length: int = 22) -> str:
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return _b32(int.from_bytes(digest, "big"), 52)[:length]


def verify(secret: str, message: str, signature: str, length: int = 22) -> bool:
    """The whole signature, never a prefix the caller chose (a 1-character prefix of a base32
    HMAC is guessable in two tries)."""
    if len(signature) != length:
        return False
    return hmac.compare_digest(sign(secret, message, length), signature)
