"""Licensees made for a test: the origin their widget runs on, their keys, and a factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from core.db.engine import Database
from core.db.tables import ApiKey, KeyKind, Licensee
from core.licensing.licensees import CreatedKeys, create_licensee
from core.types import utcnow

ORIGIN = "https://shop.example.com"


@dataclass
class Tenant:
    licensee: Licensee
    keys: CreatedKeys


MakeTenant = Callable[..., Tenant]


def make_tenant(
    db: Database, name: str = "Shop", origins: list[str] | None = None, **kw: Any
) -> Tenant:
    """A licensee on ``db`` allowed on ``origins`` (default ``ORIGIN``); ``kw`` as
    ``create_licensee`` takes them (``now`` defaults to the present)."""
    with db.session() as session:
        licensee, keys = create_licensee(
            session, name=name, origins=origins or [ORIGIN], now=kw.pop("now", utcnow()), **kw
        )
        session.commit()
    return Tenant(licensee, keys)


def key_id(db: Database, licensee_id: str, kind: KeyKind) -> str:
    """The id of the licensee's one key of ``kind``."""
    with db.read_session() as session:
        return session.exec(
            select(ApiKey.id).where(ApiKey.licensee_id == licensee_id, ApiKey.kind == kind.value)
        ).one()
