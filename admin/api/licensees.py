"""``/admin/api/licensees``: what the licensee pages do, as JSON, with the same roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlmodel import Session

from admin.api.models import (
    BaseFee,
    BillingUpdate,
    Done,
    ExceptionBody,
    KeyCreate,
    LicenseeCreate,
    LicenseeCreated,
    LicenseeDetail,
    LicenseeList,
    LicenseeUpdate,
    NewKey,
    OriginBody,
    PriceSet,
    Termination,
)
from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.forms import money, price
from admin.pages.licensees import base_url
from admin.permissions import check
from admin.services import licensees as change
from admin.services.reading import licensee_detail, licensee_page, script_tag
from core.accounts import Principal
from core.bus import Topic
from core.db.tables import KeyKind, LicenceStatus
from core.errors import InvalidInput
from core.types import utcnow

router = APIRouter(prefix="/admin/api/licensees")
T = TypeVar("T")


async def _write(
    ctx: AdminContext,
    principal: Principal,
    permission: str,
    licensee_id: str,
    fn: Callable[[Session], T],
    tell: Topic | None = Topic.LICENCE,
) -> T:
    check(principal, permission, licensee_id)
    result = await ctx.db.write(fn)
    if tell is not None:
        await ctx.tell(tell, {"licensee_id": licensee_id})
    return result


def _detail(
    request: Request, ctx: AdminContext, principal: Principal, licensee_id: str
) -> LicenseeDetail:
    check(principal, "licensee.read", licensee_id)
    now = utcnow()
    data: dict[str, Any] = ctx.db.read(lambda s: licensee_detail(s, licensee_id, now))
    if not principal.sees_billing:
        data.update(unit_price=None, prices=[], billing=None)
    live = data.pop("live_key")
    data.pop("test_key")
    data["embed"] = script_tag(base_url(ctx, request), live) if live else None
    return LicenseeDetail.model_validate(data)


@router.get("", response_model=LicenseeList)
def list_licensees(
    ctx: ContextDep, principal: PrincipalDep, q: str = "", status: str = "", page: int = 1
) -> LicenseeList:
    check(principal, "licensee.list")
    if status and status not in set(LicenceStatus):
        raise InvalidInput(
            f"status is one of {', '.join(LicenceStatus)}",
            code="licensee.status",
            choices=", ".join(LicenceStatus),
        )
    now = utcnow()
    listing = ctx.db.read(lambda s: licensee_page(s, now, q=q[:200], status=status, page=page))
    return LicenseeList.model_validate(
        {
            "licensees": listing.rows,
            "total": listing.total,
            "page": listing.page,
            "pages": listing.pages,
        }
    )


@router.post("", response_model=LicenseeCreated, status_code=201)
async def create_licensee(
    request: Request, ctx: ContextDep, principal: PrincipalDep, body: LicenseeCreate
) -> LicenseeCreated:
    check(principal, "licensee.create")
    now = utcnow()

    def write(s: Session) -> change.NewLicensee:
        return change.create(
            s,
            principal,
            now,
            name=body.name,
            origins=body.origins,
            unit_price=price(body.unit_price),
            start=body.service_start,
            end=body.service_end,
            timezone=body.timezone,
            idle_timeout_minutes=body.idle_timeout_minutes
            or ctx.settings.default_idle_timeout_minutes,
            base_fee=money(body.base_fee, "base fee"),
            signed_on=body.signed_on,
        )

    made = await ctx.db.write(write)
    return LicenseeCreated(
        id=made.licensee.id,
        site_key=made.keys.site_key,
        test_site_key=made.keys.test_site_key,
        secret_key=made.keys.secret_key,
        base_fee_bill=made.base_fee_bill,
        embed=script_tag(base_url(ctx, request), made.keys.site_key),
    )


@router.get("/{licensee_id}", response_model=LicenseeDetail)
def get_licensee(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str
) -> LicenseeDetail:
    return _detail(request, ctx, principal, licensee_id)


@router.patch("/{licensee_id}", response_model=LicenseeDetail)
async def update_licensee(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    body: LicenseeUpdate,
) -> LicenseeDetail:
    now = utcnow()

    def write(s: Session) -> None:
        change.update(
            s,
            principal,
            now,
            licensee_id,
            name=body.name,
            timezone=body.timezone,
            idle_timeout_minutes=body.idle_timeout_minutes,
        )
        if body.service_end or body.opened_on:
            change.change_period(
                s, principal, now, licensee_id, new_end=body.service_end, opened_on=body.opened_on
            )

    await _write(ctx, principal, "licensee.edit", licensee_id, write)
    return _detail(request, ctx, principal, licensee_id)


@router.post("/{licensee_id}/suspend", response_model=Done)
async def suspend_licensee(ctx: ContextDep, principal: PrincipalDep, licensee_id: str) -> Done:
    now = utcnow()
    ended = await _write(
        ctx,
        principal,
        "licensee.status",
        licensee_id,
        lambda s: change.suspend_licensee(s, principal, now, licensee_id),
    )
    return Done(detail=f"suspended; {ended} open conversations ended")


@router.post("/{licensee_id}/resume", response_model=Done)
async def resume_licensee(ctx: ContextDep, principal: PrincipalDep, licensee_id: str) -> Done:
    now = utcnow()
    await _write(
        ctx,
        principal,
        "licensee.status",
        licensee_id,
        lambda s: change.resume_licensee(s, principal, now, licensee_id),
    )
    return Done(detail="resumed")


@router.put("/{licensee_id}/exception", response_model=Done)
async def grant_exception(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: ExceptionBody
) -> Done:
    now = utcnow()
    await _write(
        ctx,
        principal,
        "licensee.status",
        licensee_id,
        lambda s: change.suspension_exception(s, principal, now, licensee_id, body.reason),
    )
    return Done(detail="exception granted")


@router.delete("/{licensee_id}/exception", response_model=Done)
async def clear_exception(ctx: ContextDep, principal: PrincipalDep, licensee_id: str) -> Done:
    now = utcnow()
    await _write(
        ctx,
        principal,
        "licensee.status",
        licensee_id,
        lambda s: change.suspension_exception(s, principal, now, licensee_id, None),
    )
    return Done(detail="exception withdrawn")


@router.post("/{licensee_id}/terminate", response_model=Done)
async def terminate_licensee(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: Termination
) -> Done:
    now = utcnow()
    end = await _write(
        ctx,
        principal,
        "licensee.status",
        licensee_id,
        lambda s: change.terminate_early(s, principal, now, licensee_id, body.notice_date),
    )
    return Done(detail=f"service ends {end.isoformat()}")


@router.put("/{licensee_id}/prices", response_model=Done)
async def set_price(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: PriceSet
) -> Done:
    now = utcnow()
    await _write(
        ctx,
        principal,
        "licensee.billing",
        licensee_id,
        lambda s: change.price(
            s, principal, now, licensee_id, price(body.unit_price), body.effective_from
        ),
        None,
    )
    return Done()


@router.post("/{licensee_id}/base-fee", response_model=Done)
async def bill_base_fee(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: BaseFee
) -> Done:
    now = utcnow()

    def write(s: Session) -> str:
        amount = money(body.amount, "base fee")
        if amount is None:
            raise InvalidInput("base fee is required", code="form.required", field="base fee")
        return change.base_fee(s, principal, now, licensee_id, amount, body.signed_on)

    number = await _write(ctx, principal, "licensee.billing", licensee_id, write, None)
    return Done(detail=number)


@router.put("/{licensee_id}/billing", response_model=Done)
async def update_billing(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: BillingUpdate
) -> Done:
    now = utcnow()
    invoice = body.model_dump(exclude={"access_compensation_fee"})
    await _write(
        ctx,
        principal,
        "licensee.billing",
        licensee_id,
        lambda s: change.billing_terms(
            s,
            principal,
            now,
            licensee_id,
            access_fee=money(body.access_compensation_fee, "access compensation fee"),
            invoice=invoice,
        ),
        None,
    )
    return Done()


@router.post("/{licensee_id}/origins", response_model=Done, status_code=201)
async def add_origin(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: OriginBody
) -> Done:
    now = utcnow()
    pattern = await _write(
        ctx,
        principal,
        "licensee.access",
        licensee_id,
        lambda s: change.origin_add(s, principal, now, licensee_id, body.origin),
    )
    return Done(detail=pattern)


@router.delete("/{licensee_id}/origins", response_model=Done)
async def remove_origin(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, origin: str
) -> Done:
    now = utcnow()
    pattern = await _write(
        ctx,
        principal,
        "licensee.access",
        licensee_id,
        lambda s: change.origin_remove(s, principal, now, licensee_id, origin),
    )
    return Done(detail=pattern)


@router.post("/{licensee_id}/keys", response_model=NewKey, status_code=201)
async def create_key(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, body: KeyCreate
) -> NewKey:
    now = utcnow()
    token = await _write(
        ctx,
        principal,
        "licensee.access",
        licensee_id,
        lambda s: change.key_create(s, principal, now, licensee_id, KeyKind(body.kind)),
        None,
    )
    return NewKey(key=token)


@router.post("/{licensee_id}/keys/{key_id}/rotate", response_model=NewKey, status_code=201)
async def rotate_key(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, key_id: str
) -> NewKey:
    now = utcnow()

    def write(s: Session) -> str:
        token, _old = change.key_rotate(s, principal, now, licensee_id, key_id)
        return token

    token = await _write(ctx, principal, "licensee.access", licensee_id, write, None)
    await ctx.tell(Topic.KEY, {"key_id": key_id})
    return NewKey(key=token, replaced=key_id)


@router.delete("/{licensee_id}/keys/{key_id}", response_model=Done)
async def revoke_key(
    ctx: ContextDep, principal: PrincipalDep, licensee_id: str, key_id: str
) -> Done:
    now = utcnow()

    def write(s: Session) -> None:
        change.key_revoke(s, principal, now, licensee_id, key_id)

    await _write(ctx, principal, "licensee.access", licensee_id, write, None)
    await ctx.tell(Topic.KEY, {"key_id": key_id})
    return Done(detail="revoked")
