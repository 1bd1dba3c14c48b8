"""The five roles: three of the licensor's staff, two of a licensee's people."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"  # the licensor: everything
    BILLING = "billing"  # the licensor's accounts: statements, payments
    SUPPORT = "support"  # the licensor's support: reads everything, changes nothing
    ADMIN = "admin"  # a licensee's administrator: its own licensee only (the portal)
    AGENT = "agent"  # a licensee's agent: the agent console, no billing


LICENSOR_ROLES = frozenset({Role.OWNER, Role.BILLING, Role.SUPPORT})
LICENSEE_ROLES = frozenset({Role.ADMIN, Role.AGENT})
# Who may read statements, payments and prices (agents may not).
BILLING_READERS = frozenset({Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN})
