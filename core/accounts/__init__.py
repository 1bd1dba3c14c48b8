"""People who sign in: roles, argon2 passwords, users with lock-out, server-side sessions."""

from core.accounts.principal import Principal
from core.accounts.roles import LICENSEE_ROLES, LICENSOR_ROLES, Role
from core.accounts.sessions import (
    SESSION_COOKIE,
    end_other_sessions,
    end_session,
    resolve_session,
    start_session,
)
from core.accounts.users import (
    authenticate,
    change_password,
    create_user,
    get_user,
)

__all__ = [
    "LICENSEE_ROLES",
    "LICENSOR_ROLES",
    "SESSION_COOKIE",
    "Principal",
    "Role",
    "authenticate",
    "change_password",
    "create_user",
    "end_other_sessions",
    "end_session",
    "get_user",
    "resolve_session",
    "start_session",
]
