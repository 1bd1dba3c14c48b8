"""licensee admins' API tokens for the console's JSON API

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", _S(length=40), nullable=False),
        sa.Column("licensee_id", _S(length=40), nullable=False),
        sa.Column("created_by", _S(length=40), nullable=False),
        sa.Column("name", _S(length=100), nullable=False),
        sa.Column("token_hash", _S(length=64), nullable=False),
        sa.Column("display", _S(length=40), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", core.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_access_tokens_licensee_id", "access_tokens", ["licensee_id"])


def downgrade() -> None:
    op.drop_table("access_tokens")
