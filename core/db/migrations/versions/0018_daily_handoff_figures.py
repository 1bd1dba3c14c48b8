"""hand-off in the daily figures: requests taken, waits and first responses, and per agent

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
# Days stored before this have zeros here until ``kefu report rebuild`` recomputes them.
_COLUMNS = (
    ("handoffs_taken", sa.Integer()),
    ("wait_ms", sa.BigInteger()),
    ("first_responses", sa.Integer()),
    ("first_response_ms", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("daily_figures") as batch:
        for name, kind in _COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default="0"))
    op.create_table(
        "daily_agents",
        sa.Column("licensee_id", _S(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent_id", _S(length=40), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("licensee_id", "day", "agent_id"),
    )
    op.create_index("ix_daily_agents_day", "daily_agents", ["day"])


def downgrade() -> None:
    op.drop_index("ix_daily_agents_day", table_name="daily_agents")
    op.drop_table("daily_agents")
    with op.batch_alter_table("daily_figures") as batch:
        for name, _kind in reversed(_COLUMNS):
            batch.drop_column(name)
