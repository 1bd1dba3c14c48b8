"""Password hashing with argon2id (argon2-cffi), and what a new password must be."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200  # argon2 takes any length; a megabyte "password" is a cheap DoS

# argon2-cffi's defaults (RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes). Read
# at each call, so that a test may swap in a cheaper one (the HTTP tests sign in hundreds of times).
HASHER = PasswordHasher()
# Verifying an unknown email against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = HASHER.hash("kefu-no-such-user-password")


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            f"the password must have at least {MIN_PASSWORD_CHARS} characters",
            code="password.too_short",
            min=MIN_PASSWORD_CHARS,
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"the password must have at most {MAX_PASSWORD_CHARS} characters",
            code="password.too_long",
            max=MAX_PASSWORD_CHARS,
        )
    if password.strip() != password or not password.strip():
        raise InvalidInput("the password must not start or end with spaces", code="password.spaces")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` (no such user) costs a verify too."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than the hasher's current ones."""
    return HASHER.check_needs_rehash(stored)
