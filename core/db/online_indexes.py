"""Indexes built by a migration without stopping the writes to their table.

On PostgreSQL, an index on a table that has rows is built with ``CREATE INDEX CONCURRENTLY``
(outside the migration's transaction, in alembic's autocommit block), so the chat server keeps
storing messages and conversations meanwhile; ``IF NOT EXISTS`` lets a migration interrupted
after the build run again. An empty table (a new database) gets a plain ``CREATE INDEX`` in the
migration's transaction: it takes no time, and a concurrent build would wait for every older
transaction of the whole database to end first. SQLite builds it in the migration's
transaction, as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _has_rows(table: str) -> bool:
    query = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)
    return op.get_bind().execute(query).first() is not None


def create_index(name: str, table: str, columns: Sequence[Any], **kw: Any) -> None:
    """``op.create_index``; concurrently on a PostgreSQL table that has rows."""
    if not postgres():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, list(columns), **kw)
    elif not _has_rows(table):
        op.create_index(name, table, list(columns), **kw)
    else:
        with op.get_context().autocommit_block():
            op.create_index(
                name, table, list(columns), postgresql_concurrently=True, if_not_exists=True, **kw
            )


def drop_index(name: str, table: str) -> None:
    """``op.drop_index``; concurrently on a PostgreSQL table that has rows."""
    if not postgres():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    elif not _has_rows(table):
        op.drop_index(name, table_name=table)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
