"""The billing job, run by every ``kefu serve``: saves each month's draft from the 1st, issues
it after the licensor's grace period, and suspends or lifts licences for arrears.

Several processes may run it at once: drafts and statements are one row per licensee and month
(a unique constraint), issuing locks that row and numbers from a locked counter, and suspension
locks the billing account, so whichever process comes second finds the work done. It works from
the months it finds unissued, not from a clock tick, so it catches up after any downtime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import col, select

from core.billing.enforcement import enforce
from core.billing.issued import issue_month, save_draft
from core.db.engine import Database
from core.db.tables import Licensee, Statement, StatementKind, StatementStatus
from core.errors import KefuError
from core.licensing.service_period import add_months, local_date

log = logging.getLogger("kefu.jobs.billing")
# Months after the service end in which units can still start (beyond term, then revoked).
TRAILING_MONTHS = 2


@dataclass
class BillingRun:
    drafts: list[tuple[str, str]] = field(default_factory=list)
    issued: list[tuple[str, str]] = field(default_factory=list)
    licence_changes: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def months_to_bill(licensee: Licensee, today: date) -> list[str]:
    """Every closed month (licensee's zone) from the service start to the end's trailing
    months: the ones a statement may be owed for."""
    first = licensee.service_start.replace(day=1)
    last = min(
        add_months(today.replace(day=1), -1),
        add_months(licensee.service_end.replace(day=1), TRAILING_MONTHS),
    )
    months, month = [], first
    while month <= last:
        months.append(f"{month:%Y-%m}")
        month = add_months(month, 1)
    return months


def run_billing(db: Database, now: datetime, grace_days: int) -> BillingRun:
    """One pass over every licensee; each licensee's work is its own transaction, and a
    failure of one (a missing price, a calendar year not covered) is reported, not fatal."""
    run = BillingRun()
    # Revoked licences too: their last months (up to two past the end) are still billed, and
    # enforcement leaves a licence that is not active alone.
    with db.read_session() as session:
        licensees = session.exec(select(Licensee)).all()
    for licensee in licensees:
        try:
            _bill(db, licensee, now, grace_days, run)
        except KefuError as exc:
            run.failures.append((licensee.id, str(exc)))
            log.warning("billing %s: %s", licensee.id, exc)
    return run


def _bill(db: Database, licensee: Licensee, now: datetime, grace: int, run: BillingRun) -> None:
    today = local_date(now, licensee.timezone)
    with db.read_session() as session:
        done = dict(
            session.exec(
                select(col(Statement.period), col(Statement.status)).where(
                    Statement.licensee_id == licensee.id, Statement.kind == StatementKind.USAGE
                )
            ).all()
        )
    for month in months_to_bill(licensee, today):
        if done.get(month) == StatementStatus.ISSUED:
            continue
        year, mon = (int(p) for p in month.split("-"))
        issue_on = add_months(date(year, mon, 1), 1) + timedelta(days=grace)
        with db.session() as session:
            if today >= issue_on:
                if issue_month(session, licensee.id, month, now).created:
                    run.issued.append((licensee.id, month))
            elif month not in done:
                save_draft(session, licensee, month, now)
                run.drafts.append((licensee.id, month))
            session.commit()
    with db.session() as session:
        change = enforce(session, licensee.id, now)
        session.commit()
    if change:
        run.licence_changes.append((licensee.id, change))
