"""daily figures of the reports: per licensee and day, latency histograms, model costs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _licensee() -> sa.Column[str]:
    return sa.Column("licensee_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False)


def upgrade() -> None:
    counts = (
        "conversations",
        "billable_units",
        "replies",
        "answered",
        "dont_know",
        "handoffs",
        "rating_1",
        "rating_2",
        "rating_3",
        "rating_4",
        "rating_5",
    )
    op.create_table(
        "daily_figures",
        _licensee(),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "day"),
    )
    op.create_table(
        "daily_latency",
        _licensee(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "day", "bucket"),
    )
    op.create_table(
        "daily_costs",
        _licensee(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("cost_units", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "day", "currency"),
    )
    for table in ("daily_figures", "daily_latency", "daily_costs"):
        op.create_index(f"ix_{table}_day", table, ["day"])
    op.create_table(
        "reporting_marks",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("refreshed_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("reporting_marks")
    for table in ("daily_figures", "daily_latency", "daily_costs"):
        op.drop_index(f"ix_{table}_day", table_name=table)
    op.drop_table("daily_costs")
    op.drop_table("daily_latency")
    op.drop_table("daily_figures")
