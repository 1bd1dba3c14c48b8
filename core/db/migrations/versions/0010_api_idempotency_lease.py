"""api_idempotency_keys.lease_until (a key whose first request died is taken over after it)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before leases have none: their request is long over, so their lease has ended.
    with op.batch_alter_table("api_idempotency_keys") as batch:
        batch.add_column(sa.Column("lease_until", core.types.UTCDateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("api_idempotency_keys") as batch:
        batch.drop_column("lease_until")
