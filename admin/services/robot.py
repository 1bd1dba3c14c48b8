"""The robot's settings changed by a person, audited in the same transaction (pages and API):
the links of the model chain and the widget's look."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core import audit
from core.accounts import Principal
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing import appearance, model_chain
from core.settings import Settings
from core.types import utcnow


def look_of(licensee: Licensee) -> dict[str, str]:
    """The widget's look as the pages, the API and the audit log show it."""
    return {
        "title": licensee.title,
        "greeting": licensee.greeting,
        "color": licensee.theme_color,
        "position": licensee.widget_position,
    }


def _link(session: Session, licensee_id: str, slot: int) -> dict[str, Any] | None:
    return next(
        (model_chain.describe(r) for r in model_chain.rows(session, licensee_id) if r.slot == slot),
        None,
    )


def set_model(
    db: Database,
    settings: Settings,
    principal: Principal,
    licensee_id: str,
    slot: int,
    *,
    provider: str,
    base_url: str,
    model: str,
    api_key: str | None,
    first_token_timeout: float,
    total_timeout: float,
) -> None:
    """Set one link of the licensee's model chain (``api_key`` None keeps the stored one)."""
    with db.session() as session:
        now = utcnow()
        before = _link(session, licensee_id, slot)
        row = model_chain.set_link(
            session,
            settings,
            licensee_id,
            slot=slot,
            provider=provider,
            base_url=base_url,
            model=model,
            api_key=api_key,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
            now=now,
        )
        audit.record(
            session,
            actor=principal,
            action="robot.model.set",
            target=f"{licensee_id}/{slot}",
            before=before,
            after=model_chain.describe(row),
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()


def clear_model(db: Database, principal: Principal, licensee_id: str, slot: int) -> None:
    """Empty one link of the licensee's model chain; audited when there was one."""
    with db.session() as session:
        now = utcnow()
        before = _link(session, licensee_id, slot)
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


def set_look(
    db: Database, principal: Principal, licensee_id: str, look: dict[str, str]
) -> dict[str, str]:
    """The widget's title, greeting, colour and corner; the look now."""
    with db.session() as session:
        now = utcnow()
        current = session.get(Licensee, licensee_id)
        assert current is not None  # the caller checked the licensee is the principal's
        before = look_of(current)
        changed = appearance.configure(
            session,
            licensee_id,
            now,
            title=look["title"],
            greeting=look["greeting"],
            color=look["color"],
            position=look["position"],
        )
        after = look_of(changed)
        audit.record(
            session,
            actor=principal,
            action="robot.look",
            target=licensee_id,
            before=before,
            after=after,
            now=now,
            licensee_id=licensee_id,
        )
        session.commit()
    return after
