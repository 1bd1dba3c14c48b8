"""SQLModel tables: licensees, keys, origins, conversations (usage units), messages, KB entries,
identified end users, the upstream model token ledger, and statements with their payments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import AutoString, Field, SQLModel

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
    # with the previous secret (core/licensing/identity.py).
    identity_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    kb_version: int = 0
    # The day a late opening moved the service period to (``kefu licensee open``); set once.
    opened_on: date | None = None
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
        # The console's conversation search: newest first, by end reason within a licensee,
        # and across every licensee (licensor staff), each read as a bounded index range.
        Index(
            "ix_conversations_licensee_reason_started", "licensee_id", "end_reason", "started_at"
        ),
        Index("ix_conversations_started", "started_at"),
        # ... and rated conversations across every licensee, newest first, by score.
        Index(
            "ix_conversations_rated_started",
            "started_at",
            "rating",
            sqlite_where=text("rating IS NOT NULL"),
            postgresql_where=text("rating IS NOT NULL"),
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
    # Where a request for a person stands ("queued", "assigned"; None: the robot answers). Read
    # with the open unit on every message, so the robot's silence costs no extra statement.
    handoff: str | None = Field(default=None, max_length=10)
    # The score of its rating (the latest; the ratings table keeps the row), None if unrated.
    rating: int | None = None


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
        # The console's unanswered questions: the few robot replies that said "don't know".
        Index(
            "ix_messages_unanswered",
            "licensee_id",
            "created_at",
            sqlite_where=text("resolved = 0"),
            postgresql_where=text("resolved = false"),
        ),
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
    # A visitor message meant for a person (said while one was asked for or held the
    # conversation): the robot never answers it, now or after a restart.
    held: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # A robot reply: whether the answerer answered (False: it said it did not know, or the
    # server answered for it). None for other roles and for replies stored before it was kept.
    resolved: bool | None = None


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"
    # Low ratings of a licensee (the unanswered questions list, the rating search).
    __table_args__ = (Index("ix_ratings_licensee_score", "licensee_id", "score", "created_at"),)

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
    answer_en: str = Field(default="", sa_column_kwargs={"server_default": ""})
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class KbEntryVectors(SQLModel, table=True):
    """An entry's phrasings as one sentence encoder's vectors, kept with the knowledge base so
    that a server loads them instead of encoding every phrasing again at start."""

    __tablename__ = "kb_entry_vectors"

    entry_id: str = Field(
        sa_column=Column(
            AutoString(40),
            ForeignKey("kb_entries.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    # The encoder's name and version (a platform model's provider, address and model name):
    # vectors of another encoder are another row, never mixed.
    encoder: str = Field(primary_key=True, max_length=300)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    # SHA-256 of the phrasings encoded: an entry whose phrasings changed is encoded again.
    fingerprint: str = Field(max_length=64)
    dimensions: int
    # float32, little-endian, one row of ``dimensions`` per distinct phrasing, in order.
    vectors: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
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


def _tokens(**kw: Any) -> Any:
    # Token counts of a package run to billions: BIGINT on PostgreSQL.
    return Field(sa_column=Column(BigInteger(), nullable=False, **kw))


def _money() -> Any:
    return Field(sa_column=Column(DecimalText(), nullable=False))


class TokenPackage(SQLModel, table=True):
    """A prepaid package of a model provider's tokens (PRODUCT.md, "Upstream model cost")."""

    __tablename__ = "token_packages"
    __table_args__ = (
        CheckConstraint(
            "tokens_left >= 0 AND tokens_left <= tokens_total", name="ck_token_packages_left"
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    provider: str = Field(max_length=40)
    name: str = Field(default="", max_length=100)
    tokens_total: int = _tokens()
    tokens_left: int = _tokens()
    price: Decimal = _money()
    currency: str = Field(default="CNY", max_length=3)
    purchased_at: datetime = _utc(nullable=False)
    redeem_by: datetime = _utc(nullable=False)
    redeemed_at: datetime | None = _utc(nullable=True)
    expires_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc(nullable=False)


class ModelPrice(SQLModel, table=True):
    """A provider's pay-as-you-go price of a model, from ``effective_from`` until the next one."""

    __tablename__ = "model_prices"
    __table_args__ = (UniqueConstraint("provider", "model", "effective_from"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=40)
    model: str = Field(max_length=100)
    effective_from: date
    input_per_million: Decimal = _money()
    output_per_million: Decimal = _money()
    cache_hit_per_million: Decimal = _money()
    currency: str = Field(default="CNY", max_length=3)


class ModelCall(SQLModel, table=True):
    """One call to an upstream model and what it cost; append-only, like the usage units.

    ``conversation_id`` and ``reply_id`` carry no foreign key on purpose: conversations are
    purged a month after a licence ends, billing records stay.
    """

    __tablename__ = "model_calls"
    __table_args__ = (Index("ix_model_calls_licensee_created", "licensee_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    # Indexed by ix_model_calls_licensee_created, whose first column it is.
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    conversation_id: str | None = Field(default=None, index=True, max_length=40)
    reply_id: str | None = Field(default=None, max_length=40)
    provider: str = Field(max_length=40)
    model: str = Field(max_length=100)
    input_tokens: int = _tokens()
    output_tokens: int = _tokens()
    cache_hit_tokens: int = _tokens()
    latency_ms: int
    first_token_ms: int | None = None
    outcome: str = Field(max_length=32)
    cost: Decimal = _money()
    currency: str = Field(default="CNY", max_length=3)
    created_at: datetime = _utc(nullable=False)


class TokenDraw(SQLModel, table=True):
    """Tokens of one call taken from one package, or paid as you go (``package_id`` NULL)."""

    __tablename__ = "token_draws"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="model_calls.id", index=True, max_length=40)
    package_id: str | None = Field(
        default=None, foreign_key="token_packages.id", index=True, max_length=40
    )
    tokens: int = _tokens()
    cost: Decimal = _money()
    # False for pay-as-you-go tokens that had no price in force: costed at 0, and flagged.
    priced: bool = True


class LicenseeModel(SQLModel, table=True):
    """One model of a licensee's own chain (slot 1 primary, 2 secondary); the key sealed."""

    __tablename__ = "licensee_models"
    __table_args__ = (UniqueConstraint("licensee_id", "slot"),)

    id: int | None = Field(default=None, primary_key=True)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    slot: int
    provider: str = Field(max_length=20)
    base_url: str = Field(max_length=500)
    model: str = Field(max_length=200)
    api_key_sealed: str | None = Field(default=None, max_length=1000)
    first_token_timeout_ms: int = 10_000
    total_timeout_ms: int = 60_000
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class ContentBlock(SQLModel, table=True):
    """A question or an answer the content filter stopped (the matched term, not the text)."""

    __tablename__ = "content_blocks"
    __table_args__ = (Index("ix_content_blocks_licensee_created", "licensee_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    conversation_id: str | None = Field(default=None, max_length=40)
    reply_id: str | None = Field(default=None, max_length=40)
    direction: str = Field(max_length=10)  # "question" or "answer"
    term: str = Field(max_length=200)
    producer: str = Field(max_length=40)
    model: str = Field(max_length=200)
    created_at: datetime = _utc(nullable=False)


class ApiIdempotencyKey(SQLModel, table=True):
    """An ``Idempotency-Key`` of chat over HTTP: the one visitor message its first request
    stored, so that a retry finds that message and its answer instead of storing another.
    ``lease_until``: while no message is stored, the holder's time to store it; a retry after
    it (the holder died between taking the key and storing) takes the key over."""

    __tablename__ = "api_idempotency_keys"

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=255)
    visitor_id: str = Field(max_length=40)
    client_id: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    lease_until: datetime | None = _utc(nullable=True)


class BillingAccount(SQLModel, table=True):
    """What a licensee is billed besides its units: the base fee, the access compensation fee
    of an early termination, an admin's exception to automatic suspension, the notice."""

    __tablename__ = "billing_accounts"

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    base_fee: Decimal = _money()
    signed_on: date | None = None
    access_compensation_fee: Decimal = _money()
    suspension_exception: str | None = Field(default=None, max_length=500)
    # Set when the billing job suspended the licence, so that paying lifts only that suspension.
    suspended_for_billing: bool = False
    notice_date: date | None = None
    termination_date: date | None = None
    # The licensee's invoice details (发票信息), printed on its statements.
    invoice_title: str = Field(default="", max_length=200)
    tax_id: str = Field(default="", max_length=40)
    invoice_address: str = Field(default="", max_length=300)
    invoice_bank: str = Field(default="", max_length=300)
    updated_at: datetime = _utc(nullable=False)


class StatementKind(StrEnum):
    USAGE = "usage"  # the units of a month (period YYYY-MM)
    BASE_FEE = "base_fee"  # the one-time base fee (period: the signing date)
    TERMINATION = "termination"  # the access compensation fee of an early end (the notice date)


class StatementStatus(StrEnum):
    DRAFT = "draft"  # recomputed whenever it is read
    ISSUED = "issued"  # frozen: numbered, lines and detail stored, never changed again


class Statement(SQLModel, table=True):
    """A bill. One per licensee, kind and period, whatever issues it and however often."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("licensee_id", "kind", "period", name="uq_statements_period"),
        UniqueConstraint("number_year", "number_seq", name="uq_statements_number"),
        CheckConstraint(
            "(status = 'draft' AND number_seq IS NULL) OR "
            "(status = 'issued' AND number_seq IS NOT NULL)",
            name="ck_statements_numbered",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    kind: str = Field(max_length=20)
    period: str = Field(max_length=10)
    status: str = Field(default=StatementStatus.DRAFT, max_length=10)
    number_year: int | None = None
    number_seq: int | None = None
    issued_at: datetime | None = _utc(nullable=True)
    due_date: date
    currency: str = Field(default="CNY", max_length=3)
    units: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    usage_amount: Decimal = _money()
    total: Decimal = _money()
    # The lines as shown (usage by price, late units, notes, late fees), frozen once issued.
    lines: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    detail_rows: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    detail_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class StatementItem(SQLModel, table=True):
    """One billed unit of an issued statement: kept when the conversations are purged."""

    __tablename__ = "statement_items"

    statement_id: str = Field(foreign_key="statements.id", primary_key=True, max_length=40)
    # No foreign key: conversations are purged a month after a licence ends, items stay.
    conversation_id: str = Field(primary_key=True, index=True, max_length=40)
    started_at: datetime = _utc(nullable=False)
    unit_price: Decimal = _money()
    beyond_term: bool = False
    late: bool = False  # a unit of an earlier, already issued month


class StatementCounter(SQLModel, table=True):
    """The last statement number of a year: taking the next one locks the row, and a rolled
    back issue gives it back, so numbers have no gaps."""

    __tablename__ = "statement_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class PaymentKind(StrEnum):
    PAYMENT = "payment"  # money received for a statement
    PREPAYMENT = "prepayment"  # money received ahead of any statement: the licensee's balance
    BALANCE = "balance"  # prepaid balance applied to a statement when it was issued
    REFUND = "refund"  # prepaid balance paid back (early termination); negative


class Payment(SQLModel, table=True):
    """Money in or out; append-only."""

    __tablename__ = "payments"

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    statement_id: str | None = Field(
        default=None, foreign_key="statements.id", index=True, max_length=40
    )
    kind: str = Field(max_length=20)
    amount: Decimal = _money()
    paid_on: date  # the licensee's date the money arrived: late fees change from this day
    reference: str = Field(default="", max_length=200)
    created_at: datetime = _utc(nullable=False)


class BillingNote(SQLModel, table=True):
    """A credit (negative) or debit note with its reason; it lands on the next statement issued
    after it, never on one already issued."""

    __tablename__ = "billing_notes"

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    amount: Decimal = _money()
    reason: str = Field(max_length=500)
    corrects: str | None = Field(default=None, max_length=40)  # a statement number, if any
    statement_id: str | None = Field(default=None, foreign_key="statements.id", max_length=40)
    created_at: datetime = _utc(nullable=False)


class Outage(SQLModel, table=True):
    """A recorded outage (PRODUCT.md, "Service quality"): it extends the service end of every
    licensee it affected (``OutageLicensee``) and lowers their availability."""

    __tablename__ = "outages"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ck_outages_order"),)

    id: str = Field(primary_key=True, max_length=40)
    starts_at: datetime = _utc(nullable=False, index=True)
    ends_at: datetime = _utc(nullable=False, index=True)
    reason: str = Field(max_length=500)
    all_licensees: bool = False
    created_at: datetime = _utc(nullable=False)


class OutageLicensee(SQLModel, table=True):
    """One licensee an outage affected, and the whole days its service end moved by."""

    __tablename__ = "outage_licensees"

    outage_id: str = Field(foreign_key="outages.id", primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    days_added: int = 0


class LicenceClosure(SQLModel, table=True):
    """The revocation of a licence a month past its end, its export archive and the purge of
    its data, one row per lapsed term. Each step is recorded only once it is durable, so a
    crashed run is redone from the first step not recorded; ``claimed_until`` is the lease that
    lets one process of several do it."""

    __tablename__ = "licence_closures"
    __table_args__ = (UniqueConstraint("licensee_id", "service_end", name="uq_closure_term"),)

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    service_end: date
    revoked_at: datetime = _utc(nullable=False)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _utc(nullable=True)
    archive_name: str | None = Field(default=None, max_length=200)
    archive_sha256: str | None = Field(default=None, max_length=64)
    archive_bytes: int | None = None
    archived_at: datetime | None = _utc(nullable=True)
    purged_at: datetime | None = _utc(nullable=True)
    lifted_at: datetime | None = _utc(nullable=True)  # a renewal before the purge


class DailyFigures(SQLModel, table=True):
    """One licensee's figures of one day (its own zone), derived from the rows
    (core/reporting/daily.py): refreshed by the leader's job, rebuilt by ``kefu report rebuild``.
    Conversations, replies and ratings count on the day their conversation started."""

    __tablename__ = "daily_figures"
    # The licensor's pages add up every licensee's days of a range.
    __table_args__ = (Index("ix_daily_figures_day", "day"),)

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    conversations: int = 0  # every conversation that started, test ones included
    billable_units: int = 0  # conversations of live keys
    replies: int = 0  # robot replies
    # The rule of core.chat.dont_know splits the replies: answered, or "don't know" (the
    # answerer did not know, an apology after a failure, a refusal).
    answered: int = 0
    dont_know: int = 0
    handoffs: int = 0  # conversations whose end user asked for a person
    rating_1: int = 0
    rating_2: int = 0
    rating_3: int = 0
    rating_4: int = 0
    rating_5: int = 0
    # Of the requests for a person of the day's conversations: how many an agent took, their
    # waits (queued -> accepted) added up in whole milliseconds, and how many of them had an
    # agent's first message and those times (accepted -> first message) added up: means of any
    # range are sums over counts, exact.
    handoffs_taken: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    wait_ms: int = Field(
        default=0, sa_column=Column(BigInteger(), nullable=False, server_default="0")
    )
    first_responses: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    first_response_ms: int = Field(
        default=0, sa_column=Column(BigInteger(), nullable=False, server_default="0")
    )


class DailyAgent(SQLModel, table=True):
    """How many of a licensee's day's conversations (by the day they started) one agent took."""

    __tablename__ = "daily_agents"
    __table_args__ = (Index("ix_daily_agents_day", "day"),)

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    agent_id: str = Field(primary_key=True, max_length=40)
    conversations: int = 0


class DailyLatency(SQLModel, table=True):
    """How many replies of a licensee's day took a time in one bucket of
    ``core.reporting.latency.BOUNDS_MS``: adding days' histograms keeps p50/p95 of any range."""

    __tablename__ = "daily_latency"
    __table_args__ = (Index("ix_daily_latency_day", "day"),)

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    bucket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    replies: int = 0


class DailyCost(SQLModel, table=True):
    """A licensee's upstream model calls of one day (its zone, by call time), per currency."""

    __tablename__ = "daily_costs"
    __table_args__ = (Index("ix_daily_costs_day", "day"),)

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    calls: int = 0
    # Whole units of 1e-10 (core.ledger.money): exact, and summed by the database itself.
    cost_units: int = _tokens()


class ReportingMark(SQLModel, table=True):
    """How far the daily figures were last refreshed (one row)."""

    __tablename__ = "reporting_marks"

    name: str = Field(primary_key=True, max_length=40)
    refreshed_at: datetime = _utc(nullable=False)


class User(SQLModel, table=True):
    """A person who signs in to the console: licensor staff (no licensee) or a licensee's admin
    or agent. ``email`` is stored lower-cased, so the unique index is case-insensitive on every
    database."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('owner', 'billing', 'support') AND licensee_id IS NULL)"
            " OR (role IN ('admin', 'agent') AND licensee_id IS NOT NULL)",
            name="ck_users_role_scope",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(unique=True, max_length=254)
    name: str = Field(default="", max_length=100)
    role: str = Field(max_length=10)
    licensee_id: str | None = Field(
        default=None, foreign_key="licensees.id", index=True, max_length=40
    )
    password_hash: str = Field(max_length=200)
    # The licensor's staff read and type the console's times in their own zone; a licensee's
    # users read their licensee's (``Licensee.timezone``), whatever this says.
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    failed_attempts: int = 0
    locked_until: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc(nullable=False)


class UserSession(SQLModel, table=True):
    """A signed-in browser: only the token's hash is kept, so a copy of the database signs
    nobody in; deleting the rows signs a user out everywhere."""

    __tablename__ = "user_sessions"

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    csrf_secret: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    last_seen_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False, index=True)


class AccessToken(SQLModel, table=True):
    """A licensee admin's API token (``kat_…``) for the console's JSON API, scoped to its
    licensee; only its hash is kept, the token is shown once."""

    __tablename__ = "access_tokens"

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", index=True, max_length=40)
    created_by: str = Field(foreign_key="users.id", max_length=40)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, max_length=64)
    display: str = Field(max_length=40)  # a recognisable prefix
    created_at: datetime = _utc(nullable=False)
    last_used_at: datetime | None = _utc(nullable=True)
    revoked_at: datetime | None = _utc(nullable=True)


class AuditEntry(SQLModel, table=True):
    """One change a person made (who, what, when, before and after), append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_licensee_at", "licensee_id", "at"),)

    # BIGINT on PostgreSQL; SQLite auto-increments only an INTEGER primary key.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    at: datetime = _utc(nullable=False, index=True)
    actor_id: str | None = Field(default=None, max_length=40)
    actor_email: str = Field(default="", max_length=254)  # kept if the user is deleted
    actor_role: str = Field(default="", max_length=10)
    licensee_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=60, index=True)
    target: str = Field(max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for the hot paths that skip the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    return table


class HandoffSettings(SQLModel, table=True):
    """A licensee's rules for hand-off to people; a licensee without a row has the defaults."""

    __tablename__ = "handoff_settings"

    licensee_id: str = Field(foreign_key="licensees.id", primary_key=True, max_length=40)
    # [{"days": [1..7 ISO weekdays], "start": "HH:MM", "end": "HH:MM"}] in the licensee's time
    # zone; None: no hours (a request is taken whenever an agent is signed in).
    hours: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    greeting: str = Field(default="", max_length=500)
    # None: the protocol's default phrases.
    phrases: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    offer_on_dont_know: bool = True
    grace_seconds: int = 60
    updated_at: datetime = _utc(nullable=False)


class Handoff(SQLModel, table=True):
    """One request for a person, from queued to its outcome; the usage data of hand-off."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_licensee_status", "licensee_id", "status", "requested_at"),
        Index("ix_handoffs_agent_status", "agent_id", "status"),
        # At most one live request per conversation, whatever process asks.
        Index(
            "uq_handoffs_live_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'assigned')"),
            postgresql_where=text("status IN ('queued', 'assigned')"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    visitor_id: str = Field(max_length=40)
    status: str = Field(max_length=10)  # queued, assigned, released, closed, ended
    note: str | None = Field(default=None, max_length=500)
    page: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, max_length=35)
    requested_at: datetime = _utc(nullable=False)
    # When it (last) joined the queue: a conversation returned by a lost agent queues again.
    queued_at: datetime = _utc(nullable=False)
    assigned_at: datetime | None = _utc(nullable=True)
    agent_id: str | None = Field(default=None, max_length=40)
    agent_name: str | None = Field(default=None, max_length=200)
    first_response_at: datetime | None = _utc(nullable=True)
    finished_at: datetime | None = _utc(nullable=True)


class AgentPresence(SQLModel, table=True):
    """Whether an agent is signed in to the console, as every process sees it."""

    __tablename__ = "agent_presence"
    __table_args__ = (Index("ix_agent_presence_licensee", "licensee_id", "last_seen_at"),)

    agent_id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    name: str = Field(max_length=200)
    connected: bool = False
    last_seen_at: datetime = _utc(nullable=False)


class LeftMessage(SQLModel, table=True):
    """A message an end user left when nobody could take the chat, for agents to answer later."""

    __tablename__ = "left_messages"
    __table_args__ = (Index("ix_left_messages_licensee", "licensee_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    licensee_id: str = Field(foreign_key="licensees.id", max_length=40)
    visitor_id: str = Field(max_length=40)
    conversation_id: str | None = Field(default=None, max_length=40)
    contact: str = Field(max_length=200)
    text: str
    locale: str | None = Field(default=None, max_length=35)
    page: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _utc(nullable=False)
    done_at: datetime | None = _utc(nullable=True)
    done_by: str | None = Field(default=None, max_length=40)
