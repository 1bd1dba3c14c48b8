"""What the licensee pages and API show: plain dicts read in one session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from core.billing.money import text
from core.billing.prices import in_force, schedules
from core.db.tables import ApiKey, BillingAccount, KeyKind, Licensee
from core.licensing.licensees import get_licensee, list_origins
from core.licensing.service_period import local_date, month_of
from core.reporting.units import units_this_month

PAGE_SIZE = 50


def script_tag(base_url: str, key: str) -> str:
    """The one line a licensee pastes into its pages (docs/embedding.md)."""
    return f'<script src="{base_url}/widget.js?key={key}" async></script>'


@dataclass(frozen=True)
class LicenseePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def licensee_page(
    session: Session, now: datetime, *, q: str = "", status: str = "", page: int = 1
) -> LicenseePage:
    """One page of licensees (newest first), searched by name or id, with this month's units."""
    statement = select(Licensee)
    counting = select(func.count()).select_from(Licensee)
    q = q.strip()
    if q:
        needle = f"%{q.lower()}%"
        match = or_(func.lower(Licensee.name).like(needle), col(Licensee.id) == q)
        statement, counting = statement.where(match), counting.where(match)
    if status:
        statement = statement.where(Licensee.status == status)
        counting = counting.where(Licensee.status == status)
    total = int(session.exec(counting).one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    licensees = list(
        session.exec(
            statement.order_by(col(Licensee.created_at).desc(), col(Licensee.id))
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    units = units_this_month(session, licensees, now)
    rows = [
        {
            "id": lic.id,
            "name": lic.name,
            "status": lic.status,
            "service_end": lic.service_end,
            "month": month_of(now, lic.timezone),
            "units": units[lic.id],
        }
        for lic in licensees
    ]
    return LicenseePage(rows, total, page, pages)


def licensee_detail(session: Session, licensee_id: str, now: datetime) -> dict[str, Any]:
    lic = get_licensee(session, licensee_id)
    keys = session.exec(
        select(ApiKey)
        .where(ApiKey.licensee_id == licensee_id)
        .order_by(col(ApiKey.created_at), col(ApiKey.id))
    ).all()
    ordered = schedules(session, licensee_id)
    today = local_date(now, lic.timezone)
    current = in_force(ordered, today)
    account = session.get(BillingAccount, licensee_id)
    live = next((k for k in keys if k.kind == KeyKind.LIVE and k.revoked_at is None), None)
    test = next((k for k in keys if k.kind == KeyKind.TEST and k.revoked_at is None), None)
    return {
        "id": lic.id,
        "name": lic.name,
        "status": lic.status,
        "timezone": lic.timezone,
        "service_start": lic.service_start,
        "service_end": lic.service_end,
        "opened_on": lic.opened_on,
        "idle_timeout_minutes": lic.idle_timeout_minutes,
        "units": units_this_month(session, [lic], now)[lic.id],
        "month": month_of(now, lic.timezone),
        "unit_price": None if current is None else text(current.unit_price),
        "prices": [
            {"effective_from": s.effective_from, "unit_price": text(s.unit_price)} for s in ordered
        ],
        "billing": None
        if account is None
        else {
            "base_fee": text(account.base_fee),
            "signed_on": account.signed_on,
            "access_compensation_fee": text(account.access_compensation_fee),
            "suspension_exception": account.suspension_exception,
            "notice_date": account.notice_date,
            "termination_date": account.termination_date,
            "invoice_title": account.invoice_title,
            "tax_id": account.tax_id,
            "invoice_address": account.invoice_address,
            "invoice_bank": account.invoice_bank,
        },
        "origins": list_origins(session, licensee_id),
        "keys": [
            {
                "id": k.id,
                "kind": k.kind,
                "key": k.display,
                "created_at": k.created_at,
                "revoked": k.revoked_at is not None,
            }
            for k in keys
        ],
        "live_key": live.display if live else None,
        "test_key": test.display if test else None,
    }
