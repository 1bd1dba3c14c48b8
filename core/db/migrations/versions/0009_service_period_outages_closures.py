"""The service period's end: late openings, outages and licence closures (revoke, archive, purge)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sqlmodel.sql.sqltypes.AutoString(length=40)


def upgrade() -> None:
    with op.batch_alter_table("licensees") as batch:
        batch.add_column(sa.Column("opened_on", sa.Date(), nullable=True))
    op.create_table(
        "outages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("starts_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("all_licensees", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_outages_order"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outages_starts_at", "outages", ["starts_at"])
    op.create_index("ix_outages_ends_at", "outages", ["ends_at"])
    op.create_table(
        "outage_licensees",
        sa.Column("outage_id", _ID, nullable=False),
        sa.Column("licensee_id", _ID, nullable=False),
        sa.Column("days_added", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"]),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("outage_id", "licensee_id"),
    )
    op.create_table(
        "licence_closures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("licensee_id", _ID, nullable=False),
        sa.Column("service_end", sa.Date(), nullable=False),
        sa.Column("revoked_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("claimed_until", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archive_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("archive_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("archive_bytes", sa.Integer(), nullable=True),
        sa.Column("archived_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("licensee_id", "service_end", name="uq_closure_term"),
    )
    op.create_index("ix_licence_closures_licensee_id", "licence_closures", ["licensee_id"])


def downgrade() -> None:
    op.drop_index("ix_licence_closures_licensee_id", table_name="licence_closures")
    op.drop_table("licence_closures")
    op.drop_table("outage_licensees")
    op.drop_index("ix_outages_ends_at", table_name="outages")
    op.drop_index("ix_outages_starts_at", table_name="outages")
    op.drop_table("outages")
    with op.batch_alter_table("licensees") as batch:
        batch.drop_column("opened_on")
