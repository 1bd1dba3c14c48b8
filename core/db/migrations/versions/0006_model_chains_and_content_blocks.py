"""licensee_models (a licensee's own model chain, keys sealed) and content_blocks (filter log)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "licensee_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("base_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("api_key_sealed", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("first_token_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("total_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("licensee_id", "slot"),
    )
    with op.batch_alter_table("licensee_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_licensee_models_licensee_id"), ["licensee_id"], unique=False
        )
    op.create_table(
        "content_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("producer", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_content_blocks_licensee_created", ["licensee_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("content_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_content_blocks_licensee_created")
    op.drop_table("content_blocks")
    with op.batch_alter_table("licensee_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licensee_models_licensee_id"))
    op.drop_table("licensee_models")
