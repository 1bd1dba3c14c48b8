"""``/admin/api/maintenance``, ``/admin/api/outages`` and ``/admin/api/audit``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlmodel import Session

from admin.api.models import AuditRow, MaintenanceBody, MaintenanceRow, OutageBody, OutageRow
from admin.deps import ContextDep, PrincipalDep
from admin.permissions import check
from admin.services import operations
from admin.services.operations import AuditQuery
from core.bus import Topic
from core.licensing.maintenance import Window, current_and_upcoming
from core.licensing.outages import Affected, list_outages
from core.types import utcnow

router = APIRouter(prefix="/admin/api")


def _window(w: Window) -> MaintenanceRow:
    return MaintenanceRow(
        id=w.id, licensee_id=w.licensee_id, starts_at=w.starts_at, ends_at=w.ends_at, text=w.text
    )


@router.get("/maintenance", response_model=list[MaintenanceRow])
def list_maintenance(ctx: ContextDep, principal: PrincipalDep) -> list[MaintenanceRow]:
    check(principal, "operations.read")
    now = utcnow()
    return [_window(w) for w in ctx.db.read(lambda s: current_and_upcoming(s, now))]


@router.post("/maintenance", response_model=MaintenanceRow, status_code=201)
async def announce_maintenance(
    ctx: ContextDep, principal: PrincipalDep, body: MaintenanceBody
) -> MaintenanceRow:
    check(principal, "operations.write")
    now = utcnow()

    def write(s: Session) -> Window:
        return operations.announce_window(
            s,
            principal,
            now,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            text=body.text,
            licensee_id=body.licensee_id,
            forced_reason=body.forced_reason,
        )

    window = await ctx.db.write(write)
    await ctx.tell(Topic.MAINTENANCE, {})
    return _window(window)


@router.get("/outages", response_model=list[OutageRow])
def outages(ctx: ContextDep, principal: PrincipalDep) -> list[OutageRow]:
    check(principal, "operations.read")
    return [
        OutageRow(
            id=o.id,
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            reason=o.reason,
            all_licensees=o.all_licensees,
            days_added={link.licensee_id: link.days_added for link in links},
        )
        for o, links in ctx.db.read(list_outages)
    ]


@router.post("/outages", response_model=OutageRow, status_code=201)
async def record_outage(ctx: ContextDep, principal: PrincipalDep, body: OutageBody) -> OutageRow:
    check(principal, "operations.write")
    now = utcnow()

    def write(s: Session) -> tuple[str, list[Affected]]:
        return operations.record(
            s,
            principal,
            now,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
            licensee_ids=body.licensee_ids,
        )

    outage_id, affected = await ctx.db.write(write)
    await ctx.tell(Topic.LICENCE, {})
    return OutageRow(
        id=outage_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason.strip(),
        all_licensees=body.licensee_ids is None,
        days_added={a.licensee_id: a.days_added for a in affected},
    )


@router.get("/audit", response_model=list[AuditRow])
def audit_log(
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRow]:
    """Newest first; a licensee's admin (or its token) sees its own licensee's entries only."""
    check(principal, "audit.read")
    query = AuditQuery(
        licensee_id=principal.licensee_id or licensee_id,
        action=action,
        actor=actor,
        since=since,
        until=until,
        limit=max(1, min(limit, 1000)),
        offset=offset,  # the service clamps it
    )
    rows = ctx.db.read(lambda s: operations.entries(s, query))
    return [AuditRow.model_validate(row, from_attributes=True) for row in rows]
