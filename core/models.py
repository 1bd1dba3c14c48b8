"""SQLModel tables: licensees, keys, origins, conversations (usage units), messages, KB entries,
identified end users."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.types import DecimalText, UTCDateTime


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class KeyKind(StrEnum):
    LIVE = "live"  # pk_live_: public, billed
    TEST = "test"  # pk_test_: public, recorded, never billed
    SECRET = "secret"  # noqa: S105 - sk_: server-to-server, stored hashed only


class WidgetPosition(StrEnum):
    """The corner of the page the widget sits in."""

    RIGHT = "right"
    LEFT = "left"


def _utc(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class Licensee(SQLModel, table=True):
    __tablename__ = "licensees"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    status: str = Field(default=LicenceStatus.ACTIVE, max_length=20)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    service_start: date
    service_end: date
    idle_timeout_minutes: int = 30
    locale: str = Field(default="zh-CN", max_length=16)
    title: str = Field(default="", max_length=100)
    greeting: str = Field(default="", max_length=500)
    theme_color: str = Field(default="#2563eb", max_length=16)
    widget_position: str = Field(
        default=WidgetPosition.RIGHT, max_length=8, sa_column_kwargs={"server_default": "right"}
    )
    # Part of what the identity secret is derived from: bumping it invalidates every hash made
    # with the previous secret (core/identity.py).
    identity_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    kb_version: int = 0
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class PriceSchedule(SQLModel, table=True):
    """The unit price in force from ``effective_from`` (licensee's date) until the next one."""

    __tablename__ = "price_schedules"
    __table_args__ = (UniqueConstraint("licensee_id", "effective_from"),)

    id: int | None = Field(default=None, primary_key=True)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    effective_from: date
    unit_price: Decimal = Field(sa_column=Column(DecimalText(), nullable=False))
    currency: str = Field(default="CNY", max_length=3)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    kind: str = Field(max_length=10)
    token_hash: str = Field(unique=True, max_length=64)
    # Site keys are public and shown in full; a secret key keeps only a recognisable prefix.
    display: str = Field(max_length=80)
    created_at: datetime = _utc(nullable=False)
    revoked_at: datetime | None = _utc(nullable=True)


class AllowedOrigin(SQLModel, table=True):
    __tablename__ = "allowed_origins"
    __table_args__ = (UniqueConstraint("licensee_id", "pattern"),)

    id: int | None = Field(default=None, primary_key=True)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    pattern: str = Field(max_length=300)


class Conversation(SQLModel, table=True):
    """One conversation = one usage unit (PRODUCT.md, "One conversation = one unit")."""

    __tablename__ = "conversations"
    __table_args__ = (
        # At most one open conversation per end user and licensee, enforced by the database
        # so that two tabs or two processes can never open two units at once.
        Index(
            "uq_conversations_open_visitor",
            "licensee_id",
            "visitor_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_conversations_licensee_started", "licensee_id", "started_at"),
        Index(
            "ix_conversations_open_activity",
            "last_activity_at",
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    visitor_id: str = Field(max_length=40)
    key_id: str = Field(foreign_key="api_keys.id", max_length=40)
    test: bool = False
    beyond_term: bool = False
    started_at: datetime = _utc(nullable=False)
    last_activity_at: datetime = _utc(nullable=False)
    ended_at: datetime | None = _utc(nullable=True)
    end_reason: str | None = Field(default=None, max_length=20)
    # The seq of the conversation's last message: the next one is taken with one UPDATE ...
    # RETURNING instead of a SELECT max(seq), on the hot path of every message.
    last_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class EndUser(SQLModel, table=True):
    """An end user the licensee's page identified (``hello.user``), under the visitor id derived
    from it. Written once, at the first verified ``hello``; usage reports join it on the visitor,
    so the hot message path stays as it is."""

    __tablename__ = "end_users"

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    visitor_id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(max_length=128)
    first_seen_at: datetime = _utc(nullable=False)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # A client message id is unique per visitor: a resend is recognised, never stored twice.
        UniqueConstraint("licensee_id", "visitor_id", "client_id", name="uq_messages_client_id"),
        UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    )

    id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    licensee_id: str = Field(max_length=40)
    visitor_id: str = Field(max_length=40)
    seq: int
    role: str = Field(max_length=10)
    text: str
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc(nullable=False)
    ai: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    sources: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=40)
    licensee_id: str = Field(max_length=40, index=True)
    score: int
    comment: str | None = Field(default=None, max_length=500)
    created_at: datetime = _utc(nullable=False)


class KbEntryRecord(SQLModel, table=True):
    __tablename__ = "kb_entries"
    __table_args__ = (UniqueConstraint("licensee_id", "question", name="uq_kb_question"),)

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    question: str = Field(max_length=500)
    answer: str
    similar: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class MaintenanceWindow(SQLModel, table=True):
    """Planned maintenance, for one licensee or (licensee_id NULL) for the whole platform."""

    __tablename__ = "maintenance_windows"

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str | None = Field(default=None, foreign_key="licensees.id", max_length=40)
    starts_at: datetime = _utc(nullable=False, index=True)
    ends_at: datetime = _utc(nullable=False, index=True)
    text: str = Field(default="", max_length=500)
    created_at: datetime = _utc(nullable=False)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for the hot paths that skip the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    return table
