"""``/admin/api/reports``: the reports' figures as JSON (what the reports pages show)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel

from admin.deps import ContextDep
from admin.report_access import FromQ, MonthQ, ReaderDep, ToQ, load
from core.billing.money import text
from core.ledger.report import PackageBalance
from core.reporting.figures import Report
from core.types import utcnow

router = APIRouter()


class DayOut(BaseModel):
    day: date
    conversations: int
    billable_units: int
    replies: int
    answered: int
    dont_know: int
    handoffs: int
    ratings: list[int]  # how many of each score, 1 to 5
    p50_ms: int | None
    p95_ms: int | None
    model_cost: str | None  # CNY; licensor staff only
    handoff_rate: str | None = None  # percent of the day's conversations; None: none
    handoffs_taken: int = 0
    mean_wait_seconds: str | None = None  # queued -> accepted, of the requests taken
    mean_first_response_seconds: str | None = None  # accepted -> the agent's first message


class LicenseeOut(BaseModel):
    licensee_id: str
    name: str
    conversations: int
    units: int
    availability: str | None  # percent
    revenue: str | None = None  # licensor staff only, from here on
    unpriced_units: int | None = None
    cost: dict[str, str] | None = None
    margin: str | None = None
    calls: int | None = None


class PackageOut(BaseModel):
    id: str
    provider: str
    name: str
    tokens_total: int
    tokens_left: int
    redeem_by: str
    expires_at: str | None
    status: str


class AgentOut(BaseModel):
    agent_id: str
    name: str
    conversations: int  # taken in the range (by the day each conversation started)


class HandoffOut(BaseModel):
    rate: str | None  # percent of the range's conversations that asked for a person
    taken: int
    mean_wait_seconds: str | None
    mean_first_response_seconds: str | None
    agents: list[AgentOut]  # most conversations first


class ReportOut(BaseModel):
    licensee_id: str | None
    first: date
    last: date
    conversations: int
    billable_units: int
    answered: int
    dont_know: int
    handoffs: int
    ratings: list[int]
    average_rating: str | None
    p50_ms: int | None
    p95_ms: int | None
    days: list[DayOut]
    licensees: list[LicenseeOut]
    packages: list[PackageOut]
    handoff: HandoffOut | None = None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def exact(amount: Decimal) -> str:
    """A cost exactly, without trailing zeros (costs are kept to 1e-10)."""
    return format(amount.normalize(), "f")


def _out(
    licensee_id: str | None, found: Report, money: bool, packages: list[PackageBalance]
) -> ReportOut:
    return ReportOut(
        licensee_id=licensee_id,
        first=found.first,
        last=found.last,
        conversations=found.total("conversations"),
        billable_units=found.total("billable_units"),
        answered=found.total("answered"),
        dont_know=found.total("dont_know"),
        handoffs=found.total("handoffs"),
        ratings=list(found.ratings),
        average_rating=str(found.average_rating) if found.average_rating is not None else None,
        p50_ms=found.p50_ms,
        p95_ms=found.p95_ms,
        days=[
            DayOut(
                day=d.day,
                conversations=d.conversations,
                billable_units=d.billable_units,
                replies=d.replies,
                answered=d.answered,
                dont_know=d.dont_know,
                handoffs=d.handoffs,
                ratings=list(d.ratings),
                p50_ms=d.p50_ms,
                p95_ms=d.p95_ms,
                model_cost=exact(d.cost) if money else None,
                handoff_rate=_text(d.handoff_rate),
                handoffs_taken=d.handoffs_taken,
                mean_wait_seconds=_text(d.mean_wait_seconds),
                mean_first_response_seconds=_text(d.mean_first_response_seconds),
            )
            for d in found.days
        ],
        licensees=[
            LicenseeOut(
                licensee_id=ln.licensee_id,
                name=ln.name,
                conversations=ln.conversations,
                units=ln.units,
                availability=str(ln.availability) if ln.availability is not None else None,
                **(
                    {
                        "revenue": text(ln.revenue),
                        "unpriced_units": ln.unpriced_units,
                        "cost": {c: exact(a) for c, a in ln.cost.items()},
                        "margin": exact(ln.margin) if ln.margin is not None else None,
                        "calls": ln.calls,
                    }
                    if money
                    else {}
                ),
            )
            for ln in found.licensees
            if licensee_id is not None or ln.conversations or ln.calls
        ],
        packages=[
            PackageOut(
                id=p.package.id,
                provider=p.package.provider,
                name=p.package.name,
                tokens_total=p.package.tokens_total,
                tokens_left=p.package.tokens_left,
                redeem_by=p.package.redeem_by.isoformat(),
                expires_at=p.package.expires_at.isoformat() if p.package.expires_at else None,
                status=p.status,
            )
            for p in packages
        ],
        handoff=HandoffOut(
            rate=_text(found.handoff_rate),
            taken=found.total("handoffs_taken"),
            mean_wait_seconds=_text(found.mean_wait_seconds),
            mean_first_response_seconds=_text(found.mean_first_response_seconds),
            agents=[
                AgentOut(agent_id=a.agent_id, name=a.name, conversations=a.conversations)
                for a in found.agents
            ],
        ),
    )


@router.get("/admin/api/reports", response_model=ReportOut)
def reports(
    ctx: ContextDep,
    principal: ReaderDep,
    month: MonthQ = None,
    first: FromQ = None,
    last: ToQ = None,
) -> ReportOut:
    """Every licensee's figures added up (licensor staff), or the licensee's own (its admin).
    The range is ``month=YYYY-MM`` or ``from``/``to`` (YYYY-MM-DD); default this month so far."""
    now = utcnow()
    licensee, _span, found, packages = ctx.db.read(
        lambda s: load(s, principal, None, month, first, last, now)
    )
    return _out(licensee.id if licensee else None, found, principal.is_licensor, packages)


@router.get("/admin/api/reports/{licensee_id}", response_model=ReportOut)
def licensee_report(
    ctx: ContextDep,
    principal: ReaderDep,
    licensee_id: str,
    month: MonthQ = None,
    first: FromQ = None,
    last: ToQ = None,
) -> ReportOut:
    """One licensee's figures (a licensee admin: only its own; another id is 404)."""
    now = utcnow()
    _lic, _span, found, packages = ctx.db.read(
        lambda s: load(s, principal, licensee_id, month, first, last, now)
    )
    return _out(licensee_id, found, principal.is_licensor, packages)
