"""one "don't know" rule: robot replies stored before messages.resolved are marked from their
sources; a conversation's rating on the conversation, for the search by rating

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import online_indexes as online

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A robot reply's sources are a JSON list; json_array_length refuses anything else.
_MARK_PG = (
    "UPDATE messages SET resolved = CASE WHEN json_typeof(sources) = 'array'"
    " THEN json_array_length(sources) > 0 ELSE false END"
    " WHERE role = 'robot' AND resolved IS NULL"
)
_MARK_SQLITE = (
    "UPDATE messages SET resolved = CASE WHEN json_type(sources) = 'array'"
    " THEN json_array_length(sources) > 0 ELSE 0 END"
    " WHERE role = 'robot' AND resolved IS NULL"
)

# The latest rating of each rated conversation (a new rating replaces the old one).
_RATED = (
    "UPDATE conversations SET rating = (SELECT r.score FROM ratings r"
    " WHERE r.conversation_id = conversations.id ORDER BY r.created_at DESC, r.id DESC LIMIT 1)"
    " WHERE id IN (SELECT conversation_id FROM ratings)"
)


def upgrade() -> None:
    # core.chat.dont_know: a robot reply did not know when ``resolved`` is false. The replies
    # stored before 0014 have none; the reports counted those citing no entry as "don't know",
    # so they are marked so, and a past month's figures stay what they were.
    op.execute(sa.text(_MARK_PG if online.postgres() else _MARK_SQLITE))
    # A conversation's rating on the conversation: the search by rating over every licensee
    # reads one index range instead of probing each conversation's ratings.
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
    op.execute(sa.text(_RATED))
    online.create_index(
        "ix_conversations_rated_started",
        "conversations",
        ["started_at", "rating"],
        unique=False,
        sqlite_where=sa.text("rating IS NOT NULL"),
        postgresql_where=sa.text("rating IS NOT NULL"),
    )


def downgrade() -> None:
    online.drop_index("ix_conversations_rated_started", "conversations")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("rating")
    # The "don't know" marks are true of the replies: 0014's downgrade drops the column.
