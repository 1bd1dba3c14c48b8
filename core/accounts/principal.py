"""Who is asking: the signed-in user as the console's rules see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.accounts.roles import BILLING_READERS, LICENSOR_ROLES, Role
from core.licensing.service_period import DEFAULT_TIMEZONE


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or a licensee's API token, ``session_id`` empty then)."""

    user_id: str
    email: str
    name: str
    role: Role
    licensee_id: str | None  # None for the licensor's staff
    session_id: str = ""
    csrf_token: str = ""  # the session's CSRF token; empty for API tokens
    seen_at: datetime | None = None  # the session's last recorded request
    # The zone the console shows and reads this principal's times in: its licensee's for a
    # licensee's user or token, the user's own for the licensor's staff.
    timezone: str = DEFAULT_TIMEZONE

    @property
    def is_licensor(self) -> bool:
        return self.role in LICENSOR_ROLES

    @property
    def can_write(self) -> bool:
        """Support staff read everything and change nothing."""
        return self.role != Role.SUPPORT

    @property
    def sees_billing(self) -> bool:
        return self.role in BILLING_READERS

    def can_see(self, licensee_id: str) -> bool:
        """Whether this principal may see anything of ``licensee_id``."""
        return self.is_licensor or self.licensee_id == licensee_id

    @property
    def label(self) -> str:
        return self.name or self.email
