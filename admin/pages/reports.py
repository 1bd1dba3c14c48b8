"""Reports with charts: ``/admin/reports`` (every licensee for the licensor's staff, its own
for a licensee admin), ``/admin/reports/{licensee_id}`` and the per-licensee table as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlmodel import Session

from admin.charts import Series, chart
from admin.deps import ContextDep
from admin.handoff_charts import handoff_charts
from admin.i18n import translate
from admin.render import render
from admin.report_access import FromQ, MonthQ, ReaderDep, ToQ, load
from core.accounts import Principal
from core.reporting.figures import Report, with_availability
from core.spreadsheet import csv_bytes
from core.types import utcnow

router = APIRouter()
PAGE_SIZE = 100


def charts(found: Report, lang: str, licensor: bool) -> list[Markup]:
    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    days = [d.day for d in found.days]
    drawn = [
        chart(
            t("reports.chart_conversations"),
            days,
            [Series(t("reports.conversations"), [d.conversations for d in found.days])],
        ),
        chart(
            t("reports.chart_answers"),
            days,
            [
                Series(t("reports.answered"), [d.answered for d in found.days]),
                Series(t("reports.dont_know"), [d.dont_know for d in found.days]),
            ],
            stacked=True,
        ),
        chart(
            t("reports.chart_latency"),
            days,
            [
                Series("p50", [d.p50_ms for d in found.days]),
                Series("p95", [d.p95_ms for d in found.days]),
            ],
            kind="line",
            unit=t("reports.ms"),
        ),
        chart(
            t("reports.chart_ratings"),
            days,
            [
                Series(t("reports.score", n=i + 1), [d.ratings[i] for d in found.days])
                for i in range(5)
            ],
            stacked=True,
        ),
        chart(
            t("reports.chart_handoffs"),
            days,
            [Series(t("reports.handoffs"), [d.handoffs for d in found.days])],
        ),
    ]
    if licensor:
        drawn.append(
            chart(
                t("reports.chart_cost"),
                days,
                [Series(t("reports.cost"), [d.cost for d in found.days])],
                unit="CNY",
            )
        )
    return drawn


def _page(
    request: Request,
    ctx: ContextDep,
    principal: Principal,
    licensee_id: str | None,
    month: str | None,
    first: str | None,
    last: str | None,
    page: int = 1,
) -> Response:
    now = utcnow()

    def read(s: Session) -> tuple[Any, ...]:
        licensee, span, found, packages = load(
            s, principal, licensee_id, month, first, last, now, availability=False
        )
        # The licensor's table: the licensees with traffic, most units first, a page at a time
        # (availability worked out for the page's lines only).
        busy = [ln for ln in found.licensees if ln.conversations or ln.calls]
        busy.sort(key=lambda ln: (-ln.units, -ln.conversations, ln.name))
        pages = max(1, -(-len(busy) // PAGE_SIZE))
        at = min(page, pages)
        shown = busy[(at - 1) * PAGE_SIZE : at * PAGE_SIZE] if licensee is None else found.licensees
        shown = with_availability(s, shown, span.first, span.last, now) if shown else shown
        return licensee, span, found, packages, shown, at, pages, len(busy)

    licensee, span, found, packages, shown, at, pages, busy = ctx.db.read(read)
    lang = getattr(request.state, "lang", "zh")
    base = (
        f"/admin/reports/{licensee.id}" if licensee and principal.is_licensor else "/admin/reports"
    )
    values: dict[str, Any] = {
        "licensee": licensee,
        "span": span,
        "report": found,
        "packages": packages,
        "charts": charts(found, lang, principal.is_licensor)
        + (handoff_charts(found, lang) if licensee else []),
        "base": base,
        "prev": span.shifted(-1),
        "next": span.shifted(1),
        "show_money": principal.is_licensor,
        "lines": shown,
        "page": at,
        "pages": pages,
        "busy": busy,
    }
    return render(request, "reports.html", values)


@router.get("/admin/reports")
def reports(
    request: Request,
    ctx: ContextDep,
    principal: ReaderDep,
    month: MonthQ = None,
    first: FromQ = None,
    last: ToQ = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    return _page(request, ctx, principal, None, month, first, last, page)


@router.get("/admin/reports.csv")
def reports_csv(
    ctx: ContextDep,
    principal: ReaderDep,
    month: MonthQ = None,
    first: FromQ = None,
    last: ToQ = None,
) -> Response:
    """Each licensee's range (the licensor) or each day (a licensee admin), formula-safe."""
    now = utcnow()
    licensee, span, found, _ = ctx.db.read(
        lambda s: load(s, principal, None, month, first, last, now)
    )
    if principal.is_licensor:
        head: tuple[str, ...] = (
            "licensee_id", "licensee", "conversations", "units", "revenue", "cost_cny",
            "margin", "calls", "availability",
        )  # fmt: skip
        rows: list[tuple[object, ...]] = [
            (
                ln.licensee_id,
                ln.name,
                ln.conversations,
                ln.units,
                ln.revenue,
                ln.cost.get("CNY", 0),
                ln.margin if ln.margin is not None else "",
                ln.calls,
                ln.availability if ln.availability is not None else "",
            )
            for ln in found.licensees
        ]
    else:
        head = (
            "day", "conversations", "billable_units", "answered", "dont_know", "handoffs",
            "ratings", "p50_ms", "p95_ms",
        )  # fmt: skip
        rows = [
            (
                d.day,
                d.conversations,
                d.billable_units,
                d.answered,
                d.dont_know,
                d.handoffs,
                d.rated,
                d.p50_ms or "",
                d.p95_ms or "",
            )
            for d in found.days
        ]
    name = f"report-{licensee.id if licensee else 'all'}-{span.first}-{span.last}.csv"
    return Response(
        csv_bytes(head, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/admin/reports/{licensee_id}")
def licensee_report(
    request: Request,
    ctx: ContextDep,
    principal: ReaderDep,
    licensee_id: str,
    month: MonthQ = None,
    first: FromQ = None,
    last: ToQ = None,
) -> Response:
    return _page(request, ctx, principal, licensee_id, month, first, last)
