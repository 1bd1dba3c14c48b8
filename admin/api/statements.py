"""``/admin/api/statements``: the statements pages as JSON, with the same roles (owner and
billing change; support and a licensee admin read; agents 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from admin.deps import ContextDep, require
from admin.services import statements as billing
from core.accounts import Principal, Role
from core.billing.money import text
from core.billing.views import StatementView
from core.types import utcnow

router = APIRouter()
ReaderDep = Annotated[
    Principal, Depends(require(Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN))
]
WriterDep = Annotated[Principal, Depends(require(Role.OWNER, Role.BILLING))]


class LineOut(BaseModel):
    kind: str
    units: int | None
    unit_price: str | None
    amount: str
    beyond_term: bool
    reference: str | None
    reason: str | None


class StatementOut(BaseModel):
    licensee_id: str
    month: str
    kind: str
    number: str | None
    status: str
    total: str
    due_date: str
    units: int
    usage_amount: str
    currency: str
    issued_at: str | None
    paid: str
    unpaid: str
    late_fee_accrued: str
    detail_rows: int
    detail_sha256: str | None
    lines: list[LineOut]


class MonthRowOut(BaseModel):
    licensee_id: str
    name: str
    number: str | None
    status: str | None  # None: no draft saved yet
    units: int | None
    total: str | None
    due_date: str | None


class MonthOut(BaseModel):
    month: str
    page: int
    pages: int
    licensees: int
    issued: int
    issued_total: str
    rows: list[MonthRowOut]


class PaymentIn(BaseModel):
    amount: str = Field(max_length=40, description="CNY received, e.g. 120.50")
    paid_on: str | None = Field(None, max_length=10, description="YYYY-MM-DD; default today")
    reference: str = Field("", max_length=200)


class NoteIn(BaseModel):
    amount: str = Field(max_length=40, description="CNY; negative for a credit")
    reason: str = Field(max_length=500)
    corrects: str | None = Field(None, max_length=40, description="an issued statement's number")


class Done(BaseModel):
    id: str


def _statement(view: StatementView) -> StatementOut:
    data = view.as_json()
    return StatementOut(licensee_id=view.licensee_id, **data)


@router.get("/admin/api/statements", response_model=MonthOut)
def month(
    ctx: ContextDep,
    principal: ReaderDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> MonthOut:
    """Every licensee (a licensee admin: its own) with its statement of ``month`` as stored."""
    listing = ctx.db.read(lambda s: billing.month_list(s, principal, month, q.strip(), page))
    return MonthOut(
        month=listing.month,
        page=listing.page,
        pages=listing.pages,
        licensees=listing.total,
        issued=listing.issued,
        issued_total=text(listing.issued_total),
        rows=[
            MonthRowOut(
                licensee_id=r.licensee_id,
                name=r.name,
                number=r.number,
                status=r.statement.status if r.statement else None,
                units=r.statement.units if r.statement else None,
                total=text(r.statement.total) if r.statement else None,
                due_date=r.statement.due_date.isoformat() if r.statement else None,
            )
            for r in listing.rows
        ],
    )


@router.get("/admin/api/statements/{licensee_id}", response_model=list[StatementOut])
def of_licensee(ctx: ContextDep, principal: ReaderDep, licensee_id: str) -> list[StatementOut]:
    now = utcnow()
    _lic, views = ctx.db.read(lambda s: billing.statements_of(s, principal, licensee_id, now))
    return [_statement(v) for v in views]


@router.get("/admin/api/statements/{licensee_id}/{which}", response_model=StatementOut)
def one(ctx: ContextDep, principal: ReaderDep, licensee_id: str, which: str) -> StatementOut:
    """A month (YYYY-MM: issued, or the draft computed now) or a statement number."""
    now = utcnow()
    _lic, view = ctx.db.read(
        lambda s: billing.statement_view(s, principal, licensee_id, which, now)
    )
    return _statement(view)


@router.post("/admin/api/statements/{licensee_id}/{which}/issue", response_model=StatementOut)
def issue(ctx: ContextDep, principal: WriterDep, licensee_id: str, which: str) -> StatementOut:
    """Issue a month's statement: numbered and frozen. 409 if it is issued already."""
    now = utcnow()
    billing.issue(ctx.db, principal, licensee_id, which, now)
    _lic, view = ctx.db.read(
        lambda s: billing.statement_view(s, principal, licensee_id, which, now)
    )
    return _statement(view)


@router.post("/admin/api/statements/{licensee_id}/{which}/payments", response_model=Done)
def pay(
    ctx: ContextDep, principal: WriterDep, licensee_id: str, which: str, body: PaymentIn
) -> Done:
    """Money received for an issued statement (at most what is unpaid)."""
    now = utcnow()
    made = billing.pay(
        ctx.db, principal, licensee_id, which, body.amount, body.paid_on, body.reference, now
    )
    return Done(id=made)


@router.post("/admin/api/statements/{licensee_id}/prepayments", response_model=Done)
def prepay(ctx: ContextDep, principal: WriterDep, licensee_id: str, body: PaymentIn) -> Done:
    now = utcnow()
    made = billing.prepayment(
        ctx.db, principal, licensee_id, body.amount, body.paid_on, body.reference, now
    )
    return Done(id=made)


@router.post("/admin/api/statements/{licensee_id}/notes", response_model=Done)
def note(ctx: ContextDep, principal: WriterDep, licensee_id: str, body: NoteIn) -> Done:
    """A credit or debit note; it lands on the next statement issued."""
    now = utcnow()
    made = billing.note(
        ctx.db, principal, licensee_id, body.amount, body.reason, body.corrects, now
    )
    return Done(id=made)
