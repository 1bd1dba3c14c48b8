"""Hot statements compiled once and run straight on the database driver's cursor.

``Connection.execute`` spends about 15 µs of CPU per call on cache keys, execution contexts and
parameter processing: more than SQLite spends running a one-row insert or lookup, and every
microsecond of it holds the interpreter lock the chat server's event loop needs. The few
statements each chat message runs go through ``Prepared`` instead. It uses what SQLAlchemy itself
would: the SQL text compiled for the connection's dialect, and each column type's own bind and
result processors (so time zones, JSON and booleans are stored and read exactly as elsewhere),
on the cursor of the very connection and transaction the caller holds.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import ExecutableReturnsRows

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # bind names, in the driver's order
    defaults: Mapping[str, Any]  # values of binds the statement carries itself
    binders: tuple[Processor, ...]
    positional: bool
    row: Callable[..., Any] | None  # None: the statement returns no rows
    readers: tuple[Processor, ...]

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        for name, bind in zip(self.names, self.binders, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(value if bind is None else bind(value))
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


def _row_type(names: list[str]) -> Callable[..., Any]:
    """Rows whose values are read by column key (``row.id``), like SQLAlchemy's."""
    return namedtuple("Row", names)


class Prepared:
    """One Core statement, run with ``execute(conn, params)`` and returning its rows.

    Rows are named tuples with the statement's column keys (``row.id``). An INSERT is compiled
    for the columns each call supplies, as ``Connection.execute`` would.
    """

    def __init__(self, statement: ExecutableReturnsRows | Insert | Any) -> None:
        self._statement = statement
        self._plans: dict[tuple[str, str, str, frozenset[str] | None], _Plan] = {}
        self._lock = threading.Lock()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        dialect = conn.dialect
        columns = frozenset(params) if isinstance(self._statement, Insert) else None
        plan = self._plans.get((dialect.name, dialect.driver, dialect.paramstyle, columns))
        if plan is None:
            plan = self._plan(dialect, columns)
        driver = conn.connection.dbapi_connection
        assert driver is not None
        arguments = plan.arguments(params)
        cursor = driver.cursor()
        try:
            cursor.execute(plan.sql, arguments)
            raws = cursor.fetchall() if plan.row is not None else []
        except dialect.loaded_dbapi.Error as exc:
            # Raised as Connection.execute would: IntegrityError and the rest, so that callers
            # (the writer's retry of a lost unique-index race) see the same exceptions, and a
            # lost connection is invalidated rather than handed out again.
            lost = dialect.is_disconnect(exc, driver, cursor)
            error = DBAPIError.instance(
                plan.sql,
                arguments,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            )
            if lost:
                conn.invalidate(error)
            raise error from exc
        finally:
            cursor.close()
        if plan.row is None:
            return []
        readers = plan.readers
        return [
            plan.row(*(v if r is None else r(v) for v, r in zip(raw, readers, strict=True)))
            for raw in raws
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        rows = self.execute(conn, params)
        return rows[0] if rows else None

    def _plan(self, dialect: Dialect, columns: frozenset[str] | None) -> _Plan:
        with self._lock:
            compiled = self._statement.compile(
                dialect=dialect, column_keys=sorted(columns) if columns is not None else None
            )
            if "POSTCOMPILE" in compiled.string:  # pragma: no cover - a statement unfit here
                raise ValueError("Prepared cannot run statements with post-compile parameters")
            if compiled.insert_prefetch or compiled.update_prefetch:
                # Python-side column defaults are computed by SQLAlchemy's execution context,
                # which this path skips: they would be stored as NULL.
                raise ValueError(
                    "Prepared cannot run statements whose columns have Python-side defaults "
                    "the parameters leave out"
                )
            binds: dict[str, BindParameter[Any]] = compiled.binds
            names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
            row: Callable[..., Any] | None = None
            readers: tuple[Processor, ...] = ()
            columns_out = list(self._statement.exported_columns)  # selected, or RETURNING
            if columns_out:
                row = _row_type([str(c.key) for c in columns_out])
                readers = tuple(
                    c.type.dialect_impl(dialect).result_processor(dialect, None)
                    for c in columns_out
                )
            plan = _Plan(
                sql=compiled.string,
                names=names,
                defaults={n: binds[n].effective_value for n in names},
                binders=tuple(
                    binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
                ),
                positional=dialect.positional,
                row=row,
                readers=readers,
            )
            self._plans[(dialect.name, dialect.driver, dialect.paramstyle, columns)] = plan
            return plan
