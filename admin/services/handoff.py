"""A licensee's hand-off rules changed by a person or the command line, audited in the same
transaction: the console page, the JSON API and ``kefu licensee handoff`` all call ``change``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from core import audit
from core.accounts import Principal
from core.chat.handoff_rules import (
    DEFAULT_PHRASES,
    MAX_GRACE_SECONDS,
    MIN_GRACE_SECONDS,
    BadRules,
    Rules,
    described,
    rules_for,
    save_rules,
)
from core.db.tables import Licensee
from core.licensing.licensees import get_licensee

# What a change may name; a field left out keeps its value.
FIELDS = ("hours", "greeting", "phrases", "offer_on_dont_know", "grace_seconds")


def licensee(session: Session, licensee_id: str) -> Licensee:
    """The licensee (NotFound for an unknown id)."""
    return get_licensee(session, licensee_id)


def bad_grace() -> BadRules:
    """A grace period that is not a whole number of seconds."""
    return BadRules(
        "grace",
        f"the grace period is {MIN_GRACE_SECONDS} to {MAX_GRACE_SECONDS} seconds",
        least=MIN_GRACE_SECONDS,
        most=MAX_GRACE_SECONDS,
    )


def current(session: Session, licensee_id: str) -> Rules:
    """The licensee's rules (NotFound for an unknown licensee)."""
    get_licensee(session, licensee_id)
    return rules_for(session, licensee_id)


def change(
    session: Session,
    actor: Principal | None,
    now: datetime,
    licensee_id: str,
    **changes: Any,
) -> Rules:
    """Store the rules with ``changes`` applied (``hours`` None: any time; ``phrases`` None: the
    protocol's defaults); validated first, nothing stored on bad input (BadRules). ``actor``
    None is the command line. The caller commits and tells the chat servers (Topic.LICENCE)."""
    unknown = changes.keys() - set(FIELDS)
    if unknown:
        raise TypeError(f"not a hand-off rule: {sorted(unknown)}")
    before = described(current(session, licensee_id))
    merged = before | changes
    rules = save_rules(
        session,
        licensee_id,
        hours=merged["hours"],
        greeting=merged["greeting"],
        # The defaults stay "the defaults" (None), not a copy of today's list.
        phrases=None if merged["phrases"] == list(DEFAULT_PHRASES) else merged["phrases"],
        offer_on_dont_know=merged["offer_on_dont_know"],
        grace_seconds=merged["grace_seconds"],
        now=now,
    )
    after = described(rules)
    if after != before:
        audit.record(
            session,
            actor=actor,
            action="licensee.handoff",
            target=licensee_id,
            before=before,
            after=after,
            now=now,
            licensee_id=licensee_id,
        )
    return rules
