"""Changes to a licensee from the console: the core rules, each with its audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from core import audit
from core.accounts import Principal
from core.billing.accounts import (
    account,
    bill_base_fee,
    set_invoice_details,
    set_terms,
    terminate,
)
from core.billing.enforcement import enforce
from core.billing.prices import schedules, set_price
from core.billing.statements import statement_number
from core.db.tables import ApiKey, BillingAccount, KeyKind, Licensee
from core.errors import NotFound
from core.licensing.licensees import (
    CreatedKeys,
    add_origin,
    create_licensee,
    get_licensee,
    issue_key,
    list_origins,
    remove_origin,
    revoke_key,
    update_licensee,
)
from core.licensing.renewal import open_late, renew
from core.licensing.suspension import resume, suspend


def snapshot(session: Session, licensee: Licensee) -> dict[str, Any]:
    """What the audit log keeps of a licensee before and after a change (never a secret)."""
    return {
        "name": licensee.name,
        "status": licensee.status,
        "timezone": licensee.timezone,
        "service_start": licensee.service_start,
        "service_end": licensee.service_end,
        "idle_timeout_minutes": licensee.idle_timeout_minutes,
    }


def billing_snapshot(row: BillingAccount) -> dict[str, Any]:
    return {
        "base_fee": row.base_fee,
        "signed_on": row.signed_on,
        "access_compensation_fee": row.access_compensation_fee,
        "suspension_exception": row.suspension_exception,
        "notice_date": row.notice_date,
        "termination_date": row.termination_date,
        "invoice_title": row.invoice_title,
        "tax_id": row.tax_id,
        "invoice_address": row.invoice_address,
        "invoice_bank": row.invoice_bank,
    }


def _record(
    session: Session,
    actor: Principal,
    now: datetime,
    action: str,
    licensee_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    target: str | None = None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target=target or licensee_id,
        before=before,
        after=after,
        now=now,
        licensee_id=licensee_id,
    )


@dataclass(frozen=True)
class NewLicensee:
    licensee: Licensee
    keys: CreatedKeys
    base_fee_bill: str | None


def create(
    session: Session,
    actor: Principal,
    now: datetime,
    *,
    name: str,
    origins: list[str],
    unit_price: Decimal,
    start: date | None,
    end: date | None,
    timezone: str,
    idle_timeout_minutes: int,
    base_fee: Decimal | None = None,
    signed_on: date | None = None,
) -> NewLicensee:
    licensee, keys = create_licensee(
        session,
        name=name,
        origins=origins,
        now=now,
        unit_price=unit_price,
        start=start,
        end=end,
        timezone=timezone,
        idle_timeout_minutes=idle_timeout_minutes,
    )
    bill = None
    if base_fee is not None and base_fee > 0:
        issued = bill_base_fee(
            session, licensee.id, base_fee, signed_on or licensee.service_start, now
        )
        bill = statement_number(issued.statement)
    after = snapshot(session, licensee) | {
        "origins": list_origins(session, licensee.id),
        "unit_price": unit_price,
        "base_fee": base_fee,
    }
    _record(session, actor, now, "licensee.created", licensee.id, None, after)
    return NewLicensee(licensee, keys, bill)


def update(
    session: Session,
    actor: Principal,
    now: datetime,
    licensee_id: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
    idle_timeout_minutes: int | None = None,
) -> Licensee:
    before = snapshot(session, get_licensee(session, licensee_id))
    licensee = update_licensee(
        session,
        licensee_id,
        now,
        name=name,
        timezone=timezone,
        idle_timeout_minutes=idle_timeout_minutes,
    )
    _record(
        session, actor, now, "licensee.updated", licensee_id, before, snapshot(session, licensee)
    )
    return licensee


def change_period(
    session: Session,
    actor: Principal,
    now: datetime,
    licensee_id: str,
    *,
    new_end: date | None = None,
    opened_on: date | None = None,
) -> Licensee:
    """A renewal (a later end) and/or a late opening (both dates move by the delay)."""
    before = snapshot(session, get_licensee(session, licensee_id))
    if opened_on is not None:
        open_late(session, licensee_id, opened_on, now)
        _record(
            session,
            actor,
            now,
            "licensee.opened_late",
            licensee_id,
            before,
            snapshot(session, get_licensee(session, licensee_id)),
        )
        before = snapshot(session, get_licensee(session, licensee_id))
    if new_end is not None:
        renewal = renew(session, licensee_id, new_end, now)
        after = snapshot(session, renewal.licensee) | {"revocation_lifted": renewal.lifted}
        _record(session, actor, now, "licensee.renewed", licensee_id, before, after)
    return get_licensee(session, licensee_id)


def suspend_licensee(session: Session, actor: Principal, now: datetime, licensee_id: str) -> int:
    before = snapshot(session, get_licensee(session, licensee_id))
    ended = suspend(session, licensee_id, now)
    after = snapshot(session, get_licensee(session, licensee_id)) | {
        "ended_conversations": len(ended)
    }
    _record(session, actor, now, "licensee.suspended", licensee_id, before, after)
    return len(ended)


def resume_licensee(session: Session, actor: Principal, now: datetime, licensee_id: str) -> None:
    before = snapshot(session, get_licensee(session, licensee_id))
    licensee = resume(session, licensee_id, now)
    _record(
        session, actor, now, "licensee.resumed", licensee_id, before, snapshot(session, licensee)
    )


def price(
    session: Session,
    actor: Principal,
    now: datetime,
    licensee_id: str,
    unit_price: Decimal,
    effective_from: date,
) -> None:
    before = {str(s.effective_from): s.unit_price for s in schedules(session, licensee_id)}
    set_price(session, licensee_id, unit_price, effective_from)
    session.flush()
    after = {str(s.effective_from): s.unit_price for s in schedules(session, licensee_id)}
    _record(session, actor, now, "licensee.price_set", licensee_id, before, after)


def base_fee(
    session: Session,
    actor: Principal,
    now: datetime,
    licensee_id: str,
    amount: Decimal,
    signed_on: date,
) -> str:
    before = billing_snapshot(account(session, licensee_id, now))
    issued = bill_base_fee(session, licensee_id, amount, signed_on, now)
    after = billing_snapshot(account(session, licensee_id, now)) | {
        "bill": statement_number(issued.statement)
    }
    _record(session, actor, now, "licensee.base_fee_billed", licensee_id, before, after)
    return statement_number(issued.statement)


def billing_terms(
    session: Session,
    actor: Principal,
    now: datetime,
    licensee_id: str,
    *,
    access_fee: Decimal | None,
    invoice: dict[str, str | None],
) -> None:
    before = billing_snapshot(account(session, licensee_id, now))
    set_terms(session, licensee_id, now, access_compensation_fee=access_fee)
    row = set_invoice_details(session, licensee_id, now, **invoice)
    _record(
        session, actor, now, "licensee.billing_updated", licensee_id, before, billing_snapshot(row)
    )


def suspension_exception(
    session: Session, actor: Principal, now: datetime, licensee_id: str, reason: str | None
) -> None:
    """Grant (with a reason) or withdraw the exception to automatic suspension for arrears;
    the billing rules apply at once (granting may resume, withdrawing may suspend)."""
    before = billing_snapshot(account(session, licensee_id, now)) | {
        "status": get_licensee(session, licensee_id).status
    }
    if reason is None:
        set_terms(session, licensee_id, now, clear_exception=True)
    else:
        set_terms(session, licensee_id, now, exception=reason)
    enforce(session, licensee_id, now)
    after = billing_snapshot(account(session, licensee_id, now)) | {
        "status": get_licensee(session, licensee_id).status
    }
    action = "licensee.exception_cleared" if reason is None else "licensee.exception_granted"
    _record(session, actor, now, action, licensee_id, before, after)


def terminate_early(
    session: Session, actor: Principal, now: datetime, licensee_id: str, notice_date: date
) -> date:
    before = snapshot(session, get_licensee(session, licensee_id))
    result = terminate(session, licensee_id, notice_date, now)
    after = snapshot(session, get_licensee(session, licensee_id)) | {
        "notice_date": notice_date,
        "termination_date": result.termination_date,
        "bill": None if result.bill is None else statement_number(result.bill.statement),
        "refunded": result.refunded,
    }
    _record(session, actor, now, "licensee.terminated", licensee_id, before, after)
    return result.termination_date


def origin_add(
    session: Session, actor: Principal, now: datetime, licensee_id: str, origin: str
) -> str:
    before = {"origins": list_origins(session, licensee_id)}
    pattern = add_origin(session, licensee_id, origin)
    session.flush()
    _record(
        session,
        actor,
        now,
        "origin.added",
        licensee_id,
        before,
        {"origins": list_origins(session, licensee_id)},
        target=pattern,
    )
    return pattern


def origin_remove(
    session: Session, actor: Principal, now: datetime, licensee_id: str, origin: str
) -> str:
    before = {"origins": list_origins(session, licensee_id)}
    pattern = remove_origin(session, licensee_id, origin)
    session.flush()
    _record(
        session,
        actor,
        now,
        "origin.removed",
        licensee_id,
        before,
        {"origins": list_origins(session, licensee_id)},
        target=pattern,
    )
    return pattern


def own_key(session: Session, licensee_id: str, key_id: str) -> ApiKey:
    """The licensee's key ``key_id``; another licensee's key is as if it did not exist."""
    key = session.get(ApiKey, key_id)
    if key is None or key.licensee_id != licensee_id:
        raise NotFound(f"no key {key_id}", code="key.not_found")
    return key


def key_create(
    session: Session, actor: Principal, now: datetime, licensee_id: str, kind: KeyKind
) -> str:
    get_licensee(session, licensee_id)
    token = issue_key(session, licensee_id, kind, now)
    session.flush()
    row = session.exec(
        select(ApiKey)
        .where(ApiKey.licensee_id == licensee_id)
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    ).first()
    after = {"kind": kind.value, "key": row.display if row else ""}
    _record(
        session, actor, now, "key.created", licensee_id, None, after, target=row.id if row else ""
    )
    return token


def key_revoke(
    session: Session, actor: Principal, now: datetime, licensee_id: str, key_id: str
) -> ApiKey:
    key = own_key(session, licensee_id, key_id)
    before = {"kind": key.kind, "key": key.display, "revoked": key.revoked_at is not None}
    revoke_key(session, key.id, now)
    after = {"kind": key.kind, "key": key.display, "revoked": True}
    _record(session, actor, now, "key.revoked", licensee_id, before, after, target=key.id)
    return key


def key_rotate(
    session: Session, actor: Principal, now: datetime, licensee_id: str, key_id: str
) -> tuple[str, ApiKey]:
    """A new key of the same kind, and the old one revoked (its sockets close)."""
    old = own_key(session, licensee_id, key_id)
    if old.revoked_at is not None:
        raise NotFound(f"key {key_id} is revoked already", code="key.revoked_already", id=key_id)
    token = issue_key(session, licensee_id, KeyKind(old.kind), now)
    revoke_key(session, old.id, now)
    session.flush()
    _record(
        session,
        actor,
        now,
        "key.rotated",
        licensee_id,
        {"key": old.display},
        {"kind": old.kind, "new_key": token if old.kind != KeyKind.SECRET else token[:12] + "…"},
        target=old.id,
    )
    return token, old
