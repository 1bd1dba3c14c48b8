"""api_idempotency_keys (chat over HTTP: one stored message per Idempotency-Key)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_idempotency_keys",
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("visitor_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("api_idempotency_keys")
