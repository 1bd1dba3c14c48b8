"""Operations pages: maintenance windows and outages (``/admin/operations``) and the audit log
(``/admin/audit``, exportable as CSV)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin import forms
from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.i18n import translate
from admin.i18n.errors import error_text
from admin.permissions import check, may
from admin.render import render
from admin.services import operations
from admin.services.operations import AuditQuery
from core.accounts import Principal
from core.bus import Topic
from core.errors import KefuError
from core.licensing.maintenance import current_and_upcoming
from core.licensing.outages import list_outages
from core.licensing.service_period import zone
from core.types import utcnow

router = APIRouter()
Text = Annotated[str, Form(max_length=2000)]


def _page(
    request: Request,
    ctx: AdminContext,
    principal: Principal,
    *,
    refused: KefuError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The page; after a refusal, with its words in the reader's language and its status."""
    error = error_text(refused, request.state.lang) if refused else ""
    status = refused.status if refused else 200
    check(principal, "operations.read")
    now = utcnow()

    def read(s: Session) -> dict[str, Any]:
        outages = list_outages(s)[-50:]
        return {"windows": current_and_upcoming(s, now), "outages": list(reversed(outages))}

    data = ctx.db.read(read)
    done = request.query_params.get("done", "")
    tz = zone(principal.timezone)  # the reader's own zone: times are shown and typed in it
    return render(
        request,
        "operations.html",
        {
            **data,
            "can_write": may(principal, "operations.write"),
            "error": error,
            "notice": translate(f"ops.done.{done}", request.state.lang) if done.isalnum() else "",
            "values": values or {},
            "soonest": (now + timedelta(days=1, minutes=5))
            .astimezone(tz)
            .strftime("%Y-%m-%dT%H:%M"),
        },
        status,
    )


@router.get("/admin/operations")
def operations_page(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    return _page(request, ctx, principal)


@router.post("/admin/operations/maintenance")
async def maintenance_announce(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    starts_at: Text = "",
    ends_at: Text = "",
    text: Text = "",
    licensee_id: Text = "",
    force: Text = "",
    force_reason: Text = "",
) -> Response:
    check(principal, "operations.write")
    now = utcnow()
    values = {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "text": text,
        "licensee_id": licensee_id,
        "force_reason": force_reason,
    }

    def write(s: Session) -> object:
        return operations.announce_window(
            s,
            principal,
            now,
            starts_at=forms.local_moment(starts_at, principal.timezone, "start"),
            ends_at=forms.local_moment(ends_at, principal.timezone, "end"),
            text=text,
            licensee_id=forms.text_or_none(licensee_id),
            forced_reason=(force_reason.strip() or "") if force else None,
        )

    try:
        await ctx.db.write(write)
    except KefuError as exc:
        return await run_in_threadpool(_page, request, ctx, principal, refused=exc, values=values)
    await ctx.tell(Topic.MAINTENANCE, {})
    return RedirectResponse("/admin/operations?done=announced", 303)


@router.post("/admin/operations/outages")
async def outage_record(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    starts_at: Text = "",
    ends_at: Text = "",
    reason: Text = "",
    licensees: Text = "",
) -> Response:
    check(principal, "operations.write")
    now = utcnow()
    values = {
        "outage_starts_at": starts_at,
        "outage_ends_at": ends_at,
        "reason": reason,
        "licensees": licensees,
    }
    ids = forms.origins(licensees)  # ids separated by spaces, commas or lines

    def write(s: Session) -> object:
        return operations.record(
            s,
            principal,
            now,
            starts_at=forms.local_moment(starts_at, principal.timezone, "start"),
            ends_at=forms.local_moment(ends_at, principal.timezone, "end"),
            reason=reason,
            licensee_ids=ids or None,
        )

    try:
        await ctx.db.write(write)
    except KefuError as exc:
        return await run_in_threadpool(_page, request, ctx, principal, refused=exc, values=values)
    await ctx.tell(Topic.LICENCE, {})
    return RedirectResponse("/admin/operations?done=outage", 303)


def audit_query(principal: Principal, params: dict[str, str]) -> AuditQuery:
    """The filters of the audit page; a licensee's admin sees its own licensee's entries. Days
    are the reader's own, in their time zone."""

    def moment(name: str) -> datetime | None:
        day = forms.day(params.get(name), name)
        if day is None:
            return None
        start = datetime(day.year, day.month, day.day, tzinfo=zone(principal.timezone))
        return start + timedelta(days=1) if name == "until" else start

    licensee = principal.licensee_id or forms.text_or_none(params.get("licensee"))
    return AuditQuery(
        licensee_id=licensee,
        action=forms.text_or_none(params.get("action")),
        actor=forms.text_or_none(params.get("actor")),
        since=moment("since"),
        until=moment("until"),
        limit=100,
        offset=int(offset) if (offset := params.get("offset", "0")).isdigit() else 0,
    )


@router.get("/admin/audit")
def audit_page(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    check(principal, "audit.read")
    params = dict(request.query_params)
    try:
        query = audit_query(principal, params)
        rows = ctx.db.read(lambda s: operations.entries(s, query))
        error = ""
    except KefuError as exc:
        query, rows, error = (
            AuditQuery(licensee_id=principal.licensee_id),
            [],
            error_text(exc, request.state.lang),
        )
    export = request.url.query
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "params": params,
            "query": query,
            "error": error,
            "export": export,
        },
    )


@router.get("/admin/audit.csv")
def audit_export(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    check(principal, "audit.read")
    query = audit_query(principal, dict(request.query_params))
    body = ctx.db.read(
        lambda s: operations.audit_csv(
            s,
            AuditQuery(**{**query.__dict__, "limit": 100_000, "offset": 0}),
            principal.timezone,
        )
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )
