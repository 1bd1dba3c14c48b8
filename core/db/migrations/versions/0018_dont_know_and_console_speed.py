"""one "don't know" rule: robot replies stored before messages.resolved are marked from their
sources; indexes of the console's slow searches

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
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


def upgrade() -> None:
    # core.chat.dont_know: a robot reply did not know when ``resolved`` is false. The replies
    # stored before 0014 have none; the reports counted those citing no entry as "don't know",
    # so they are marked so, and a past month's figures stay what they were.
    op.execute(sa.text(_MARK_PG if op.get_bind().dialect.name == "postgresql" else _MARK_SQLITE))


def downgrade() -> None:
    pass  # the marks are true of the replies; 0014's downgrade drops the column
