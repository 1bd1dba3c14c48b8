"""Automatic suspension for arrears: more than 15 days overdue suspends the licence unless an
admin recorded an exception; paying what is overdue lifts a suspension this module made."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core.billing.accounts import account
from core.billing.late_fees import SUSPEND_AFTER_DAYS
from core.billing.payments import position
from core.billing.statements import issued_statements
from core.db.tables import BillingAccount, LicenceStatus
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date
from core.licensing.suspension import resume, suspend


def longest_overdue(session: Session, licensee_id: str, now: datetime) -> int:
    """Days overdue of the licensee's most overdue unpaid statement (0 if none)."""
    licensee = get_licensee(session, licensee_id)
    today = local_date(now, licensee.timezone)
    return max(
        (position(session, s, today).days_overdue for s in issued_statements(session, licensee_id)),
        default=0,
    )


def enforce(session: Session, licensee_id: str, now: datetime) -> str | None:
    """Suspend or lift as the arrears say; returns "suspended", "resumed" or None.

    Idempotent: a second run (another process, a retry) changes nothing. The caller commits."""
    account(session, licensee_id, now)
    # Locked: of two processes enforcing at once, the second sees what the first did.
    row = session.get(BillingAccount, licensee_id, with_for_update=True, populate_existing=True)
    licensee = get_licensee(session, licensee_id)
    assert row is not None
    overdue = longest_overdue(session, licensee_id, now) > SUSPEND_AFTER_DAYS
    if overdue and row.suspension_exception is None:
        if licensee.status == LicenceStatus.ACTIVE:
            suspend(session, licensee_id, now)
            row.suspended_for_billing = True
            row.updated_at = now
            session.add(row)
            return "suspended"
        return None
    if row.suspended_for_billing and licensee.status == LicenceStatus.SUSPENDED:
        resume(session, licensee_id, now)
        row.suspended_for_billing = False
        row.updated_at = now
        session.add(row)
        return "resumed"
    return None
