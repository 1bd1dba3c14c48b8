"""The overview page ``/admin``: figures for the licensor, the licensee's own for its admin.

This month's figures come from the daily figures (each licensee's month in its own zone), never
from counting the conversations, so the page costs the same at ten million conversations."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, select

from admin.deps import ContextDep, PrincipalDep
from admin.render import render
from core.accounts import Principal, Role
from core.db.tables import LicenceStatus, Licensee, User
from core.reporting.month_to_date import every_licensee, month_to_date
from core.types import utcnow

router = APIRouter()


# This month's figures on the home page, from the daily figures (core.reporting.month_to_date).
MONTH_FIGURES = (
    ("home.units", "billable_units"),
    ("home.conversations", "conversations"),
    ("home.answered", "answered"),
    ("home.dont_know", "dont_know"),
    ("home.handoffs", "handoffs"),
)


def _month(counts: Counter[str]) -> list[tuple[str, object]]:
    return [(label, counts[name]) for label, name in MONTH_FIGURES]


def _overview(session: Session, principal: Principal) -> dict[str, object]:
    now = utcnow()
    if principal.licensee_id is not None:
        licensee = session.get(Licensee, principal.licensee_id)
        if licensee is None:
            return {"licensee_name": "", "figures": []}
        counts = month_to_date(session, now, [licensee.id])[licensee.id]
        return {
            "licensee_name": licensee.name,
            "figures": [
                *_month(counts),
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
        *_month(every_licensee(session, now)),
    ]
    return {"licensee_name": "", "figures": figures, "licensee_link": ""}


@router.get("/admin")
def home(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    if principal.role == Role.AGENT:
        return RedirectResponse("/agent", 303)  # agents work in the agent console
    values = ctx.db.read(lambda s: _overview(s, principal))
    return render(request, "home.html", values)
