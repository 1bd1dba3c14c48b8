"""messages.resolved and the indexes of the console's conversation search and unanswered list

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import online_indexes as online

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved", sa.Boolean(), nullable=True))
    # Concurrently on PostgreSQL: the tables are large and the chat server keeps writing.
    online.create_index(
        "ix_messages_unanswered",
        "messages",
        ["licensee_id", "created_at"],
        unique=False,
        sqlite_where=sa.text("resolved = 0"),
        postgresql_where=sa.text("resolved = false"),
    )
    online.create_index(
        "ix_conversations_licensee_reason_started",
        "conversations",
        ["licensee_id", "end_reason", "started_at"],
        unique=False,
    )
    online.create_index("ix_conversations_started", "conversations", ["started_at"], unique=False)
    online.create_index(
        "ix_ratings_licensee_score", "ratings", ["licensee_id", "score", "created_at"], unique=False
    )


def downgrade() -> None:
    online.drop_index("ix_ratings_licensee_score", "ratings")
    online.drop_index("ix_conversations_started", "conversations")
    online.drop_index("ix_conversations_licensee_reason_started", "conversations")
    online.drop_index("ix_messages_unanswered", "messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("resolved")
