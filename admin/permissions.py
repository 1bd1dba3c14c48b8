"""Which role may do what in the console: one table, read by the pages (to show a button or
not) and enforced by the routes (403, or 404 for another licensee's ids)."""

from __future__ import annotations

from fastapi import HTTPException

from admin.deps import scoped_licensee
from core.accounts import Principal, Role

OWNER, BILLING, SUPPORT, ADMIN = Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN

PERMISSIONS: dict[str, frozenset[Role]] = {
    "licensee.list": frozenset({OWNER, BILLING, SUPPORT}),
    "licensee.read": frozenset({OWNER, BILLING, SUPPORT, ADMIN}),
    "licensee.create": frozenset({OWNER}),
    "licensee.edit": frozenset({OWNER}),  # name, time zone, idle timeout, service period
    "licensee.status": frozenset({OWNER}),  # suspend, resume, exception, early termination
    "licensee.billing": frozenset(
        {OWNER, BILLING}
    ),  # prices, base fee, billing terms, invoice details
    "licensee.access": frozenset({OWNER, ADMIN}),  # origins and keys
    "handoff.read": frozenset({OWNER, BILLING, SUPPORT, ADMIN}),  # hours, greeting, phrases
    "handoff.edit": frozenset({OWNER, ADMIN}),
    "operations.read": frozenset({OWNER, BILLING, SUPPORT}),
    "operations.write": frozenset({OWNER}),
    "audit.read": frozenset({OWNER, BILLING, SUPPORT, ADMIN}),
    "tokens.manage": frozenset({ADMIN}),
    "users.manage": frozenset({OWNER, ADMIN}),  # a licensee's admin: its own licensee's users
}


def may(principal: Principal, permission: str) -> bool:
    return principal.role in PERMISSIONS[permission]


def check(principal: Principal, permission: str, licensee_id: str | None = None) -> Principal:
    """403 unless the role may; a licensee's user asking about another licensee gets 404
    first, so it cannot tell which ids exist."""
    if licensee_id is not None:
        scoped_licensee(principal, licensee_id)
    if not may(principal, permission):
        raise HTTPException(403, "your role may not do this")
    return principal
