"""the upstream model token ledger: token_packages, model_prices, model_calls, token_draws

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("input_per_million", core.types.DecimalText(length=40), nullable=False),
        sa.Column("output_per_million", core.types.DecimalText(length=40), nullable=False),
        sa.Column("cache_hit_per_million", core.types.DecimalText(length=40), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "model", "effective_from"),
    )
    op.create_table(
        "token_packages",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("tokens_total", sa.BigInteger(), nullable=False),
        sa.Column("tokens_left", sa.BigInteger(), nullable=False),
        sa.Column("price", core.types.DecimalText(length=40), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("purchased_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeem_by", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "tokens_left >= 0 AND tokens_left <= tokens_total", name="ck_token_packages_left"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "model_calls",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_hit_tokens", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("first_token_ms", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cost", core.types.DecimalText(length=40), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_calls_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            "ix_model_calls_licensee_created", ["licensee_id", "created_at"], unique=False
        )

    op.create_table(
        "token_draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("package_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", core.types.DecimalText(length=40), nullable=False),
        sa.Column("priced", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["model_calls.id"]),
        sa.ForeignKeyConstraint(["package_id"], ["token_packages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("token_draws", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_token_draws_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_token_draws_package_id"), ["package_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("token_draws", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_draws_package_id"))
        batch_op.drop_index(batch_op.f("ix_token_draws_call_id"))

    op.drop_table("token_draws")
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_model_calls_licensee_created")
        batch_op.drop_index(batch_op.f("ix_model_calls_conversation_id"))

    op.drop_table("model_calls")
    op.drop_table("token_packages")
    op.drop_table("model_prices")
