"""licensees.widget_position and identity_epoch; end_users (verified hello.user)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("licensees", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "widget_position",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                server_default="right",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("identity_epoch", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "end_users",
        sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("visitor_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("first_seen_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "visitor_id"),
    )


def downgrade() -> None:
    op.drop_table("end_users")
    with op.batch_alter_table("licensees", schema=None) as batch_op:
        batch_op.drop_column("identity_epoch")
        batch_op.drop_column("widget_position")
