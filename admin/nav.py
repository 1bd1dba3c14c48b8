"""The console's navigation: which links each role sees (an area adds its line here)."""

from __future__ import annotations

from dataclasses import dataclass

from core.accounts import Principal, Role

ALL = frozenset(Role)
LICENSOR = frozenset({Role.OWNER, Role.BILLING, Role.SUPPORT})


@dataclass(frozen=True)
class NavItem:
    path: str
    key: str  # a translation key
    roles: frozenset[Role]


NAV: list[NavItem] = [
    NavItem("/admin", "nav.home", frozenset(ALL - {Role.AGENT})),
    NavItem("/admin/licensees", "nav.licensees", LICENSOR),
    NavItem("/admin/licensees", "nav.my_licensee", frozenset({Role.ADMIN})),
    NavItem("/admin/kb", "nav.kb", frozenset(LICENSOR | {Role.ADMIN})),
    NavItem("/admin/conversations", "nav.conversations", frozenset(LICENSOR | {Role.ADMIN})),
    NavItem("/admin/statements", "nav.statements", frozenset(ALL - {Role.AGENT})),
    NavItem("/admin/reports", "nav.reports", frozenset(ALL - {Role.AGENT})),
    NavItem("/agent", "agent.nav", frozenset({Role.AGENT})),
    NavItem("/agent/left", "agent.left", frozenset({Role.AGENT})),
    NavItem("/admin/operations", "nav.operations", LICENSOR),
    NavItem("/admin/audit", "nav.audit", frozenset(LICENSOR | {Role.ADMIN})),
    NavItem("/admin/users", "nav.users", frozenset({Role.OWNER, Role.ADMIN})),
    NavItem("/admin/tokens", "nav.tokens", frozenset({Role.ADMIN})),
]


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if principal.role in item.roles]
