"""Visitor tokens: signed per licensee, never forgeable, a verified user's never read back."""

from __future__ import annotations

import pytest

from core.licensing.visitor_tokens import issue, visitor_of

SECRET = "s" * 40
VISITOR = "v_01hzzzzzzzzzzzzzzzzzzzzzzz"


def test_a_token_proves_its_visitor_at_its_licensee() -> None:
    token = issue(SECRET, "lic_a", VISITOR)
    assert token.startswith(f"{VISITOR}.")
    assert visitor_of(SECRET, "lic_a", token) == VISITOR


def test_a_token_proves_nothing_at_another_licensee_or_under_another_secret() -> None:
    token = issue(SECRET, "lic_a", VISITOR)
    assert visitor_of(SECRET, "lic_b", token) is None
    assert visitor_of("t" * 40, "lic_a", token) is None


def test_a_verified_users_token_never_resumes_on_its_own() -> None:
    token = issue(SECRET, "lic_a", VISITOR, verified_user=True)
    assert token != issue(SECRET, "lic_a", VISITOR)
    assert visitor_of(SECRET, "lic_a", token) is None


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        VISITOR,  # no signature
        f"{VISITOR}.AAAAAAAAAAAAAAAAAAAAAA",  # forged
        f"{VISITOR}.",
        "x_01hzzzzzzzzzzzzzzzzzzzzzzz.AAAA",
        f"{VISITOR}." + "a" * 100,  # over-long
    ],
)
def test_malformed_or_forged_tokens_are_no_visitor(token: str | None) -> None:
    assert visitor_of(SECRET, "lic_a", token) is None


def test_a_signature_is_only_valid_whole() -> None:
    token = issue(SECRET, "lic_a", VISITOR)
    assert visitor_of(SECRET, "lic_a", token[:-1]) is None
    # A right signature under a visitor id that lacks the visitor prefix is still refused.
    other = issue(SECRET, "lic_a", "u_01hzzzzzzzzzzzzzzzzzzzzzzz")
    assert visitor_of(SECRET, "lic_a", other) is None
