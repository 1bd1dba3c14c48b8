"""The robot's settings changed by a person, audited in the same transaction (pages and API)."""

from __future__ import annotations

from core import audit
from core.accounts import Principal
from core.db.engine import Database
from core.licensing import model_chain
from core.types import utcnow


def clear_model(db: Database, principal: Principal, licensee_id: str, slot: int) -> None:
    """Empty one link of the licensee's model chain; audited when there was one."""
    with db.session() as session:
        now = utcnow()
        before = next(
            (
                model_chain.describe(r)
                for r in model_chain.rows(session, licensee_id)
                if r.slot == slot
            ),
            None,
        )
        if model_chain.clear_link(session, licensee_id, slot, now):
            audit.record(
                session,
                actor=principal,
                action="robot.model.clear",
                target=f"{licensee_id}/{slot}",
                before=before,
                after=None,
                now=now,
                licensee_id=licensee_id,
            )
        session.commit()
