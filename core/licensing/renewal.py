"""Moving a licence's service period: renewal (a later end) and a late opening (both dates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.db.tables import Conversation, LicenceClosure, LicenceStatus, Licensee
from core.errors import Conflict, InvalidInput
from core.licensing.licensees import get_licensee
from core.licensing.service_period import (
    TermState,
    local_date,
    start_of_day,
    term_state,
)


@dataclass(frozen=True, slots=True)
class Renewal:
    licensee: Licensee
    previous_end: date
    lifted: bool  # the renewal lifted a revocation by term (the data was not purged yet)


def pending_closure(session: Session, licensee_id: str) -> LicenceClosure | None:
    """The licensee's latest closure not lifted by a renewal (purged or not)."""
    return session.exec(
        select(LicenceClosure).where(
            LicenceClosure.licensee_id == licensee_id,
            col(LicenceClosure.lifted_at).is_(None),
        )
    ).first()


def renew(session: Session, licensee_id: str, new_end: date, now: datetime) -> Renewal:
    """Set a later service end. A licence revoked because its term lapsed comes back to life
    if its data has not been purged yet (the closure is marked lifted, so its purge, even one
    under way in another process, stops); after the purge there is nothing to renew.

    A suspended licence stays suspended: suspension is about payment or misuse, not the term."""
    licensee = get_licensee(session, licensee_id)
    previous = licensee.service_end
    if new_end <= previous:
        raise InvalidInput(
            f"the new end {new_end.isoformat()} must be after the current end"
            f" {previous.isoformat()}",
            code="renewal.not_later",
            new_end=new_end,
            current_end=previous,
        )
    today = local_date(now, licensee.timezone)
    if term_state(new_end, today) == TermState.LAPSED:
        raise InvalidInput(
            f"an end of {new_end.isoformat()} is more than a month before today"
            f" ({today.isoformat()}, {licensee.timezone}): the licence would stay revoked",
            code="renewal.too_early",
            new_end=new_end,
            today=today,
            zone=licensee.timezone,
        )
    closure = pending_closure(session, licensee_id)
    lifted = False
    if licensee.status == LicenceStatus.REVOKED:
        if closure is None:
            raise Conflict(
                f"{licensee_id} was revoked, not by its term: a renewal cannot lift it",
                code="renewal.revoked_not_by_term",
                id=licensee_id,
            )
        if closure.purged_at is not None:
            raise Conflict(
                f"{licensee_id}'s data was purged on {closure.purged_at.isoformat()} after its"
                f" term ended on {closure.service_end.isoformat()}: create a new licensee",
                code="renewal.purged",
                id=licensee_id,
                purged=closure.purged_at.date(),
                ended=closure.service_end,
            )
        closure.lifted_at = now
        closure.claimed_by, closure.claimed_until = None, None
        session.add(closure)
        licensee.status = LicenceStatus.ACTIVE
        lifted = True
    licensee.service_end = new_end
    licensee.updated_at = now  # the running servers reload the row
    session.add(licensee)
    session.flush()
    return Renewal(licensee, previous, lifted)


def open_late(session: Session, licensee_id: str, on: date, now: datetime) -> Licensee:
    """The service opened on ``on`` instead of its start date: start and end move by the delay
    (PRODUCT.md: "Opening late pushes both dates back"). Once per licence, and only if no billed
    unit started before ``on``: a licensee that was served had opened."""
    licensee = get_licensee(session, licensee_id)
    if licensee.opened_on is not None:
        raise Conflict(
            f"{licensee_id} was already opened late, on {licensee.opened_on}",
            code="renewal.opened_late_already",
            id=licensee_id,
            on=licensee.opened_on,
        )
    if licensee.status == LicenceStatus.REVOKED:
        raise Conflict(f"{licensee_id} is revoked", code="licensee.revoked", id=licensee_id)
    if on < licensee.service_start:
        raise InvalidInput(
            f"--on {on.isoformat()} is before the service start"
            f" {licensee.service_start.isoformat()}: opening late only moves dates later",
            code="renewal.late_before_start",
            on=on,
            start=licensee.service_start,
        )
    served = session.exec(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.licensee_id == licensee_id,
            col(Conversation.test).is_(False),
            Conversation.started_at < start_of_day(on, licensee.timezone),
        )
    ).one()
    if served:
        raise Conflict(
            f"{licensee_id} served {served} billed conversation(s) before {on.isoformat()}:"
            " it opened on time",
            code="renewal.served_before",
            id=licensee_id,
            served=served,
            on=on,
        )
    delay = on - licensee.service_start
    licensee.service_start = on
    licensee.service_end = licensee.service_end + delay
    licensee.opened_on = on
    licensee.updated_at = now
    session.add(licensee)
    session.flush()
    return licensee
