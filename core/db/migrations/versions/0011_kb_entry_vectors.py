"""kb_entry_vectors: entries' phrasings as sentence-encoder vectors, kept with the knowledge base

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_entry_vectors",
        sa.Column("entry_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("encoder", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["kb_entries.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("entry_id", "encoder"),
    )
    with op.batch_alter_table("kb_entry_vectors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kb_entry_vectors_licensee_id"), ["licensee_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("kb_entry_vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_entry_vectors_licensee_id"))
    op.drop_table("kb_entry_vectors")
