"""Licensee pages: the list, a new licensee, and one licensee's settings, access and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin import forms
from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.forms import TIME_ZONES
from admin.i18n import translate
from admin.i18n.errors import error_text
from admin.permissions import check, may
from admin.render import render
from admin.services import licensees as change
from admin.services.reading import licensee_detail, licensee_page, script_tag
from core.accounts import Principal, Role
from core.bus import Topic
from core.db.tables import KeyKind, LicenceStatus
from core.errors import InvalidInput, KefuError
from core.types import utcnow

router = APIRouter()
Text = Annotated[str, Form(max_length=2000)]


def base_url(ctx: AdminContext, request: Request) -> str:
    return (ctx.settings.public_url or str(request.base_url)).rstrip("/")


def _permissions(principal: Principal) -> dict[str, bool]:
    can = {
        name: may(principal, f"licensee.{name}")
        for name in ("create", "edit", "status", "billing", "access")
    }
    return can | {"handoff": may(principal, "handoff.read")}


@router.get("/admin/licensees")
def licensee_list(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    q: str = "",
    status: str = "",
    page: int = 1,
) -> Response:
    if principal.licensee_id is not None and principal.role == Role.ADMIN:
        return RedirectResponse(f"/admin/licensees/{principal.licensee_id}", 303)
    check(principal, "licensee.list")
    if status not in {"", *LicenceStatus}:
        status = ""
    now = utcnow()
    listing = ctx.db.read(lambda s: licensee_page(s, now, q=q[:200], status=status, page=page))
    return render(
        request,
        "licensees/list.html",
        {
            "listing": listing,
            "q": q,
            "status": status,
            "statuses": list(LicenceStatus),
            "can": _permissions(principal),
        },
    )


def _new_form(
    request: Request, values: dict[str, str], error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "licensees/new.html",
        {"values": values, "error": error, "zones": TIME_ZONES},
        status,
    )


@router.get("/admin/licensees/new")
def licensee_new(request: Request, ctx: ContextDep, principal: PrincipalDep) -> Response:
    check(principal, "licensee.create")
    defaults = {
        "timezone": "Asia/Shanghai",
        "unit_price": "0.50",
        "idle_timeout_minutes": str(ctx.settings.default_idle_timeout_minutes),
    }
    return _new_form(request, defaults)


@router.post("/admin/licensees")
async def licensee_create(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    name: Text = "",
    origins: Text = "",
    unit_price: Text = "",
    start: Text = "",
    end: Text = "",
    timezone: Text = "Asia/Shanghai",
    idle_timeout_minutes: Text = "",
    base_fee: Text = "",
    signed_on: Text = "",
) -> Response:
    check(principal, "licensee.create")
    values = {
        "name": name,
        "origins": origins,
        "unit_price": unit_price,
        "start": start,
        "end": end,
        "timezone": timezone,
        "idle_timeout_minutes": idle_timeout_minutes,
        "base_fee": base_fee,
        "signed_on": signed_on,
    }
    now = utcnow()
    try:

        def write(s: Session) -> change.NewLicensee:
            return change.create(
                s,
                principal,
                now,
                name=name,
                origins=forms.origins(origins),
                unit_price=forms.price(unit_price),
                start=forms.day(start, "start"),
                end=forms.day(end, "end"),
                timezone=timezone.strip() or "Asia/Shanghai",
                idle_timeout_minutes=forms.minutes(idle_timeout_minutes, "idle timeout")
                or ctx.settings.default_idle_timeout_minutes,
                base_fee=forms.money(base_fee, "base fee"),
                signed_on=forms.day(signed_on, "signing date"),
            )

        made = await ctx.db.write(write)
    except KefuError as exc:
        return _new_form(request, values, error_text(exc, request.state.lang), exc.status)
    base = base_url(ctx, request)
    return render(
        request,
        "licensees/created.html",
        {
            "licensee": made.licensee,
            "keys": made.keys,
            "bill": made.base_fee_bill,
            "snippet": script_tag(base, made.keys.site_key),
            "test_snippet": script_tag(base, made.keys.test_site_key),
        },
        201,
    )


def _detail(
    request: Request,
    ctx: AdminContext,
    principal: Principal,
    licensee_id: str,
    *,
    error: str = "",
    shown_key: str = "",
    status: int = 200,
) -> Response:
    check(principal, "licensee.read", licensee_id)
    now = utcnow()
    detail = ctx.db.read(lambda s: licensee_detail(s, licensee_id, now))
    base = base_url(ctx, request)
    done = request.query_params.get("done", "")
    return render(
        request,
        "licensees/detail.html",
        {
            "lic": detail,
            "can": _permissions(principal),
            "sees_billing": principal.sees_billing,
            "snippet": script_tag(base, detail["live_key"]) if detail["live_key"] else "",
            "test_snippet": script_tag(base, detail["test_key"]) if detail["test_key"] else "",
            "error": error,
            "notice": translate(f"lic.done.{done}", request.state.lang) if done.isalnum() else "",
            "shown_key": shown_key,
            "zones": TIME_ZONES,
            "key_kinds": [k.value for k in KeyKind],
        },
        status,
    )


@router.get("/admin/licensees/{licensee_id}")
def licensee_show(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str
) -> Response:
    return _detail(request, ctx, principal, licensee_id)


async def _act(
    request: Request,
    ctx: AdminContext,
    principal: Principal,
    licensee_id: str,
    permission: str,
    write: Callable[[Session], Any],
    done: str,
    tell: Topic | None = Topic.LICENCE,
) -> Response:
    """Check, write (core rule + audit entry in one transaction), tell the chat servers, and go
    back to the licensee's page; a refused change shows the page again with why."""
    check(principal, permission, licensee_id)
    try:
        result = await ctx.db.write(write)
    except KefuError as exc:
        return await run_in_threadpool(
            _detail,
            request,
            ctx,
            principal,
            licensee_id,
            error=error_text(exc, request.state.lang),
            status=exc.status,
        )
    if tell is not None:
        await ctx.tell(tell, {"licensee_id": licensee_id})
    if isinstance(result, str) and result.startswith(("pk_", "sk_")):
        # A new key is shown on this one page and never again.
        return await run_in_threadpool(
            _detail, request, ctx, principal, licensee_id, shown_key=result
        )
    return RedirectResponse(f"/admin/licensees/{licensee_id}?done={done}", 303)


@router.post("/admin/licensees/{licensee_id}/settings")
async def licensee_settings(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    name: Text = "",
    timezone: Text = "",
    idle_timeout_minutes: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        return change.update(
            s,
            principal,
            now,
            licensee_id,
            name=forms.text_or_none(name),
            timezone=forms.text_or_none(timezone),
            idle_timeout_minutes=forms.minutes(idle_timeout_minutes, "idle timeout"),
        )

    return await _act(request, ctx, principal, licensee_id, "licensee.edit", write, "saved")


@router.post("/admin/licensees/{licensee_id}/period")
async def licensee_period(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    service_end: Text = "",
    opened_on: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        return change.change_period(
            s,
            principal,
            now,
            licensee_id,
            new_end=forms.day(service_end, "service end"),
            opened_on=forms.day(opened_on, "opening day"),
        )

    return await _act(request, ctx, principal, licensee_id, "licensee.edit", write, "saved")


@router.post("/admin/licensees/{licensee_id}/suspend")
async def licensee_suspend(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str
) -> Response:
    now = utcnow()
    return await _act(
        request,
        ctx,
        principal,
        licensee_id,
        "licensee.status",
        lambda s: change.suspend_licensee(s, principal, now, licensee_id),
        "suspended",
    )


@router.post("/admin/licensees/{licensee_id}/resume")
async def licensee_resume(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str
) -> Response:
    now = utcnow()
    return await _act(
        request,
        ctx,
        principal,
        licensee_id,
        "licensee.status",
        lambda s: change.resume_licensee(s, principal, now, licensee_id),
        "resumed",
    )


@router.post("/admin/licensees/{licensee_id}/exception")
async def licensee_exception(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    reason: Text = "",
    clear: Text = "",
) -> Response:
    now = utcnow()
    given = None if clear else reason

    def write(s: Session) -> object:
        change.suspension_exception(s, principal, now, licensee_id, given)
        return None

    return await _act(request, ctx, principal, licensee_id, "licensee.status", write, "saved")


@router.post("/admin/licensees/{licensee_id}/terminate")
async def licensee_terminate(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    notice_date: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        day = forms.required_day(notice_date, "notice date")
        return change.terminate_early(s, principal, now, licensee_id, day)

    return await _act(request, ctx, principal, licensee_id, "licensee.status", write, "terminated")


@router.post("/admin/licensees/{licensee_id}/price")
async def licensee_price(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    unit_price: Text = "",
    effective_from: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        change.price(
            s,
            principal,
            now,
            licensee_id,
            forms.price(unit_price),
            forms.required_day(effective_from, "effective from"),
        )
        return None

    return await _act(
        request, ctx, principal, licensee_id, "licensee.billing", write, "saved", None
    )


@router.post("/admin/licensees/{licensee_id}/base-fee")
async def licensee_base_fee(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    amount: Text = "",
    signed_on: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        fee = forms.money(amount, "base fee")
        if fee is None:
            raise InvalidInput("base fee is required", code="form.required", field="base fee")
        change.base_fee(
            s, principal, now, licensee_id, fee, forms.required_day(signed_on, "signing date")
        )
        return None

    return await _act(
        request, ctx, principal, licensee_id, "licensee.billing", write, "saved", None
    )


@router.post("/admin/licensees/{licensee_id}/billing")
async def licensee_billing(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    access_fee: Text = "",
    invoice_title: Text = "",
    tax_id: Text = "",
    invoice_address: Text = "",
    invoice_bank: Text = "",
) -> Response:
    now = utcnow()

    def write(s: Session) -> object:
        change.billing_terms(
            s,
            principal,
            now,
            licensee_id,
            access_fee=forms.money(access_fee, "access compensation fee"),
            invoice={
                "invoice_title": invoice_title,
                "tax_id": tax_id,
                "invoice_address": invoice_address,
                "invoice_bank": invoice_bank,
            },
        )
        return None

    return await _act(
        request, ctx, principal, licensee_id, "licensee.billing", write, "saved", None
    )


@router.post("/admin/licensees/{licensee_id}/origins")
async def origin_add(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str, origin: Text = ""
) -> Response:
    now = utcnow()
    return await _act(
        request,
        ctx,
        principal,
        licensee_id,
        "licensee.access",
        lambda s: change.origin_add(s, principal, now, licensee_id, origin.strip()) and None,
        "origin_added",
    )


@router.post("/admin/licensees/{licensee_id}/origins/remove")
async def origin_remove(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str, origin: Text = ""
) -> Response:
    now = utcnow()
    return await _act(
        request,
        ctx,
        principal,
        licensee_id,
        "licensee.access",
        lambda s: change.origin_remove(s, principal, now, licensee_id, origin.strip()) and None,
        "origin_removed",
    )


@router.post("/admin/licensees/{licensee_id}/keys")
async def key_create(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str, kind: Text = ""
) -> Response:
    now = utcnow()

    def write(s: Session) -> str:
        try:
            parsed = KeyKind(kind)
        except ValueError:
            raise InvalidInput("a key is live, test or secret", code="key.kind") from None
        return change.key_create(s, principal, now, licensee_id, parsed)

    return await _act(request, ctx, principal, licensee_id, "licensee.access", write, "key", None)


@router.post("/admin/licensees/{licensee_id}/keys/{key_id}/rotate")
async def key_rotate(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str, key_id: str
) -> Response:
    now = utcnow()

    def write(s: Session) -> str:
        token, _old = change.key_rotate(s, principal, now, licensee_id, key_id)
        return token

    response = await _act(
        request, ctx, principal, licensee_id, "licensee.access", write, "key", None
    )
    await ctx.tell(Topic.KEY, {"key_id": key_id})
    return response


@router.post("/admin/licensees/{licensee_id}/keys/{key_id}/revoke")
async def key_revoke(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str, key_id: str
) -> Response:
    now = utcnow()
    response = await _act(
        request,
        ctx,
        principal,
        licensee_id,
        "licensee.access",
        lambda s: change.key_revoke(s, principal, now, licensee_id, key_id) and None,
        "key_revoked",
        None,
    )
    await ctx.tell(Topic.KEY, {"key_id": key_id})
    return response
