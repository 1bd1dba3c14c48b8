"""The overview page ``/admin``: figures for the licensor, the licensee's own for its admin."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, select

from admin.deps import ContextDep, PrincipalDep
from admin.render import render
from core.accounts import Principal, Role
from core.db.tables import LicenceStatus, Licensee, User
from core.reporting.units import units_this_month
from core.types import utcnow

router = APIRouter()


def _overview(session: Session, principal: Principal) -> dict[str, object]:
    if principal.licensee_id is not None:
        licensee = session.get(Licensee, principal.licensee_id)
        if licensee is None:
            return {"licensee_name": "", "figures": []}
        units = units_this_month(session, [licensee], utcnow())[licensee.id]
        return {
            "licensee_name": licensee.name,
            "figures": [
                ("home.units", units),
                ("home.service_end", licensee.service_end.isoformat()),
                ("home.status", f"status.{licensee.status}"),  # a key: the template words it,
            ],
            "licensee_link": f"/admin/licensees/{licensee.id}",
        }
    by_status = dict(
        session.exec(select(Licensee.status, func.count()).group_by(Licensee.status)).all()
    )
    users = session.exec(select(func.count()).select_from(User)).one()
    figures = [
        ("home.licensees", sum(by_status.values())),
        ("home.active", by_status.get(LicenceStatus.ACTIVE.value, 0)),
        ("home.suspended", by_status.get(LicenceStatus.SUSPENDED.value, 0)),
        ("home.users", users),
    ]
    return {"licensee_name": "", "figures": figures, "licensee_link": ""}


@router.get("/admin")
def home(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    if principal.role == Role.AGENT:
        return RedirectResponse("/agent", 303)  # agents work in the agent console
    values = ctx.db.read(lambda s: _overview(s, principal))
    return render(request, "home.html", values)
