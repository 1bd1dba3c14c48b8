"""What the reports pages and API share: who may read them, the range's query parameters, and
the report of a range for the principal (its own licensee, or every one for licensor staff)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query
from sqlmodel import Session

from admin.deps import require, scoped_licensee
from admin.ranges import DateRange, parse_range
from core.accounts import Principal, Role
from core.db.tables import Licensee
from core.ledger.money import LEDGER_ZONE
from core.ledger.report import PackageBalance, package_balances
from core.reporting.figures import Report, cached_report, with_availability

READERS = (Role.OWNER, Role.BILLING, Role.SUPPORT, Role.ADMIN)
ReaderDep = Annotated[Principal, Depends(require(*READERS))]
MonthQ = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
FromQ = Annotated[str | None, Query(alias="from", max_length=10)]
ToQ = Annotated[str | None, Query(alias="to", max_length=10)]


def load(
    session: Session,
    principal: Principal,
    licensee_id: str | None,
    month: str | None,
    first: str | None,
    last: str | None,
    now: datetime,
    availability: bool = True,
) -> tuple[Licensee | None, DateRange, Report, list[PackageBalance]]:
    """The licensee (None: all), the range and its report; packages for the licensor only.
    Without ``availability`` the licensees' lines leave it out (None)."""
    licensee = None
    if licensee_id is None:
        licensee_id = principal.licensee_id  # a licensee's user: its own; staff: all
    if licensee_id is not None:
        scoped_licensee(principal, licensee_id)
        licensee = session.get(Licensee, licensee_id)
        if licensee is None:
            raise HTTPException(404, f"no licensee {licensee_id}")
    tz = licensee.timezone if licensee else LEDGER_ZONE
    span = parse_range(month, first, last, now, tz)  # InvalidInput: 400, in the reader's words
    found = cached_report(session, span.first, span.last, now, licensee_id)
    if availability or licensee_id is not None:
        found = replace(
            found,
            licensees=with_availability(session, found.licensees, span.first, span.last, now),
        )
    packages = package_balances(session, now) if principal.is_licensor else []
    return licensee, span, found, packages
