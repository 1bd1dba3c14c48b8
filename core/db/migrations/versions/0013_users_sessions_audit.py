"""users, their sessions and the audit log (the admin console's sign-in)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _S(length=40), nullable=False),
        sa.Column("email", _S(length=254), nullable=False),
        sa.Column("name", _S(length=100), nullable=False),
        sa.Column("role", _S(length=10), nullable=False),
        sa.Column("licensee_id", _S(length=40), nullable=True),
        sa.Column("password_hash", _S(length=200), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(role IN ('owner', 'billing', 'support') AND licensee_id IS NULL)"
            " OR (role IN ('admin', 'agent') AND licensee_id IS NOT NULL)",
            name="ck_users_role_scope",
        ),
        sa.ForeignKeyConstraint(["licensee_id"], ["licensees.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index("ix_users_licensee_id", "users", ["licensee_id"])
    op.create_table(
        "user_sessions",
        sa.Column("id", _S(length=40), nullable=False),
        sa.Column("token_hash", _S(length=64), nullable=False),
        sa.Column("user_id", _S(length=40), nullable=False),
        sa.Column("csrf_secret", _S(length=64), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", core.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_expires_at", "user_sessions", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", core.types.UTCDateTime(), nullable=False),
        sa.Column("actor_id", _S(length=40), nullable=True),
        sa.Column("actor_email", _S(length=254), nullable=False),
        sa.Column("actor_role", _S(length=10), nullable=False),
        sa.Column("licensee_id", _S(length=40), nullable=True),
        sa.Column("action", _S(length=60), nullable=False),
        sa.Column("target", _S(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_licensee_at", "audit_log", ["licensee_id", "at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("user_sessions")
    op.drop_table("users")
