"""Who may read and change a licensee's knowledge base and robot, shared by pages and API.

Licensor staff and the licensee's own admin read it; support staff only read; agents do not see
it. Another licensee's ids are "not found", never "forbidden": their existence is not shown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException

from admin.deps import PrincipalDep, require, scoped_licensee
from core.accounts import Principal, Role
from core.db.engine import Database
from core.db.tables import Licensee

KB_ROLES = (Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN)

KbReaderDep = Annotated[Principal, Depends(require(*KB_ROLES))]


def writer(principal: Principal) -> Principal:
    if not principal.can_write:
        raise HTTPException(403, "read-only role")
    return principal


def _kb_writer(principal: KbReaderDep) -> Principal:
    return writer(principal)


KbWriterDep = Annotated[Principal, Depends(_kb_writer)]


def licensee_for(db: Database, principal: Principal, licensee_id: str) -> Licensee:
    """The licensee ``principal`` may work on; 404 for another's or an unknown id."""
    scoped_licensee(principal, licensee_id)
    licensee = db.read(lambda s: s.get(Licensee, licensee_id))
    if licensee is None:
        raise HTTPException(404, f"no licensee {licensee_id}")
    return licensee


__all__ = ["KbReaderDep", "KbWriterDep", "PrincipalDep", "licensee_for", "writer"]
