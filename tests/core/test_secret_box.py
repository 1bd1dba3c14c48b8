"""API keys are sealed at rest: readable back only with the same server secret."""

from __future__ import annotations

import pytest

from core.secret_box import SealError, seal, unseal

SECRET = "s" * 48


def test_round_trip_and_no_plaintext_at_rest() -> None:
    sealed = seal(SECRET, "sk-provider-123")
    assert "sk-provider-123" not in sealed
    assert seal(SECRET, "sk-provider-123") != sealed  # a fresh IV every time
    assert unseal(SECRET, sealed) == "sk-provider-123"


def test_another_server_secret_or_tampering_is_refused() -> None:
    sealed = seal(SECRET, "sk-provider-123")
    with pytest.raises(SealError):
        unseal("t" * 48, sealed)
    with pytest.raises(SealError):
        unseal(SECRET, sealed[:-4] + "AAAA")
    with pytest.raises(SealError):
        unseal(SECRET, "not a token")
