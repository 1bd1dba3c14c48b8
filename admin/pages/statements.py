"""Statements: a month's list over every licensee, a licensee's statements, one statement
(draft or issued) with its lines, payments and downloads, and the forms that issue it, record
payments and add notes. Everything is done by ``core.billing`` (via ``admin.services.statements``).

Licensor owner and billing change; support reads; a licensee admin reads and downloads its own;
agents see no billing (403)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from admin.deps import ContextDep, require
from admin.i18n.errors import error_text
from admin.render import render
from admin.services import statements as billing
from core.accounts import Principal, Role
from core.billing.downloads import MEDIA_TYPES, Format, filename, parse_format
from core.billing.downloads import render as download
from core.billing.labels import line_label, status_label
from core.billing.money import text
from core.errors import InvalidInput, KefuError, NotFound
from core.ledger.money import LEDGER_ZONE
from core.licensing.service_period import add_months, local_date
from core.types import utcnow

router = APIRouter()
ReaderDep = Annotated[
    Principal, Depends(require(Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN))
]
WriterDep = Annotated[Principal, Depends(require(Role.OWNER, Role.BILLING))]
DONE = ("issued", "paid", "prepaid", "note")


def _helpers(request: Request) -> dict[str, Any]:
    lang = getattr(request.state, "lang", "zh")
    return {
        "line_label": lambda line: line_label(line, lang),
        "status_label": lambda status: status_label(str(status), lang),
        "money": text,
    }


@router.get("/admin/statements")
def statements_month(
    request: Request,
    ctx: ContextDep,
    principal: ReaderDep,
    month: Annotated[str | None, Query(max_length=7)] = None,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The licensor's month over every licensee; a licensee admin's own statements."""
    if principal.licensee_id is not None:
        return RedirectResponse(f"/admin/statements/{principal.licensee_id}", 303)
    now = utcnow()
    if month is None:  # the last month over: the one being billed
        month = f"{add_months(local_date(now, LEDGER_ZONE).replace(day=1), -1):%Y-%m}"
    chosen = month
    try:
        listing = ctx.db.read(lambda s: billing.month_list(s, principal, chosen, q.strip(), page))
    except KefuError as exc:
        raise InvalidInput(str(exc), code=exc.code, **exc.values) from None
    return render(
        request,
        "statements_month.html",
        {"listing": listing, "q": q, **_helpers(request)},
    )


@router.get("/admin/statements/{licensee_id}")
def statements_of(
    request: Request, ctx: ContextDep, principal: ReaderDep, licensee_id: str
) -> Response:
    now = utcnow()
    licensee, views = ctx.db.read(lambda s: billing.statements_of(s, principal, licensee_id, now))
    today = local_date(now, licensee.timezone).replace(day=1)
    first = licensee.service_start.replace(day=1)
    months = [add_months(today, -i) for i in range(12)]
    return render(
        request,
        "statements_licensee.html",
        {
            "licensee": licensee,
            "views": views,
            "months": [f"{m:%Y-%m}" for m in months if m >= first],
            "can_change": billing.may_change_billing(principal),
            "error": "",
            "done": _done(request),
            **_helpers(request),
        },
    )


def _done(request: Request) -> str:
    done = request.query_params.get("done", "")
    return done if done in DONE else ""


def _statement_page(
    request: Request,
    ctx: ContextDep,
    principal: Principal,
    licensee_id: str,
    which: str,
    error: str = "",
    status: int = 200,
) -> Response:
    now = utcnow()
    licensee, view = ctx.db.read(
        lambda s: billing.statement_view(s, principal, licensee_id, which, now)
    )
    return render(
        request,
        "statement.html",
        {
            "licensee": licensee,
            "view": view,
            "which": which,
            "can_change": billing.may_change_billing(principal),
            "formats": [f.value for f in Format],
            "error": error,
            "done": _done(request),
            "today": local_date(now, licensee.timezone),
            **_helpers(request),
        },
        status=status,
    )


@router.get("/admin/statements/{licensee_id}/{which}")
def statement(
    request: Request, ctx: ContextDep, principal: ReaderDep, licensee_id: str, which: str
) -> Response:
    return _statement_page(request, ctx, principal, licensee_id, which)


def _act(
    request: Request,
    ctx: ContextDep,
    principal: Principal,
    licensee_id: str,
    which: str,
    change: Callable[[], object],
    done: str,
) -> Response:
    """Run a change; back to the statement (or the licensee's list) with its result, or the
    page again with the refusal's words (400, 404, 409) when core refused it."""
    try:
        change()
    except KefuError as exc:
        if which:
            return _statement_page(
                request,
                ctx,
                principal,
                licensee_id,
                which,
                error_text(exc, request.state.lang),
                exc.status,
            )
        raise
    target = f"/admin/statements/{licensee_id}" + (f"/{which}" if which else "")
    return RedirectResponse(f"{target}?done={done}", 303)


@router.post("/admin/statements/{licensee_id}/{which}/issue")
def issue(
    request: Request, ctx: ContextDep, principal: WriterDep, licensee_id: str, which: str
) -> Response:
    now = utcnow()
    return _act(
        request,
        ctx,
        principal,
        licensee_id,
        which,
        lambda: billing.issue(ctx.db, principal, licensee_id, which, now),
        "issued",
    )


@router.post("/admin/statements/{licensee_id}/{which}/payments")
def pay(
    request: Request,
    ctx: ContextDep,
    principal: WriterDep,
    licensee_id: str,
    which: str,
    amount: Annotated[str, Form(max_length=40)],
    paid_on: Annotated[str, Form(max_length=10)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    now = utcnow()
    return _act(
        request,
        ctx,
        principal,
        licensee_id,
        which,
        lambda: billing.pay(ctx.db, principal, licensee_id, which, amount, paid_on, reference, now),
        "paid",
    )


@router.post("/admin/statements/{licensee_id}/prepayments")
def prepay(
    request: Request,
    ctx: ContextDep,
    principal: WriterDep,
    licensee_id: str,
    amount: Annotated[str, Form(max_length=40)],
    paid_on: Annotated[str, Form(max_length=10)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    now = utcnow()
    return _act(
        request,
        ctx,
        principal,
        licensee_id,
        "",
        lambda: billing.prepayment(ctx.db, principal, licensee_id, amount, paid_on, reference, now),
        "prepaid",
    )


@router.post("/admin/statements/{licensee_id}/notes")
def note(
    request: Request,
    ctx: ContextDep,
    principal: WriterDep,
    licensee_id: str,
    amount: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=500)],
    corrects: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    now = utcnow()
    return _act(
        request,
        ctx,
        principal,
        licensee_id,
        "",
        lambda: billing.note(ctx.db, principal, licensee_id, amount, reason, corrects, now),
        "note",
    )


@router.get("/admin/statements/{licensee_id}/{which}/download/{fmt}", response_model=None)
async def statement_download(
    ctx: ContextDep, principal: ReaderDep, licensee_id: str, which: str, fmt: str
) -> Response:
    """The statement as CSV, its itemised detail CSV (streamed), XLSX or PDF."""
    try:
        kind = parse_format(fmt)
    except KefuError as exc:
        raise NotFound(str(exc), code=exc.code, **exc.values) from None
    now = utcnow()
    licensee, view = await asyncio.to_thread(
        ctx.db.read, lambda s: billing.statement_view(s, principal, licensee_id, which, now)
    )
    settings = ctx.settings
    headers = {"Content-Disposition": f'attachment; filename="{filename(view, kind)}"'}

    def chunks() -> Iterator[bytes]:
        with ctx.db.read_session() as session:
            yield from download(session, licensee, view, kind, settings)

    if kind == Format.DETAIL_CSV:
        return StreamingResponse(chunks(), media_type=MEDIA_TYPES[kind], headers=headers)
    body = await asyncio.to_thread(lambda: b"".join(chunks()))
    return Response(body, media_type=MEDIA_TYPES[kind], headers=headers)
