"""Core statements compiled once and run on the driver's own cursor.

For the hot paths only. On the completion call SQLAlchemy's work on each execution (cache key,
execution context, result wrapping, about 40 us a statement) cost more than the statements
themselves and held the API to 60% of a bare endpoint's throughput (docs/benchmarks.md); in the
tracker's batch, rendering a list of order numbers and building ORM rows cost more than its SQL
on SQLite (bench/analysis.md). The SQL is still built by SQLAlchemy, and values still go through
the columns' own types, both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

_Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class DriverStatement:
    """One statement as the driver takes it, with what it takes to fill and read it."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order, for positional drivers
    # Values the dialect adds as parameters while compiling (SQLite's OFFSET 0), driver-ready.
    fixed: Mapping[str, Any]
    binds: Mapping[str, _Processor]
    row: type[NamedTuple] | None
    results: tuple[_Processor | None, ...]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> DriverStatement:
        """`statement` with the values it carries (the lab's codes, a NULL) written into its SQL,
        so that each call sends and the server binds only the values given to it: the flag's
        thirty-odd constants, sent as parameters, cost the driver more to convert than its
        statement took to send (docs/benchmarks.md). The dialect writes them, quoted as its own
        literals."""
        inlined = visitors.cloned_traverse(statement, {}, {"bindparam": _inline_if_given})
        compiled = inlined.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a statement that reads or writes rows: {statement}")
        binds = compiled.binds.values()
        if any(bind.expanding and bind.required for bind in binds):
            raise ValueError("an IN list of one parameter cannot run on the driver: list values")
        required = {bind.key for bind in binds if bind.required}
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        processors = {
            name: processor
            for name in expanded.parameters
            if (processor := _bind_processor(compiled.binds[name].type, dialect)) is not None
        }
        columns = list(getattr(statement, "exported_columns", ()))
        # mypy checks a NamedTuple's fields only when written out; these come from the statement.
        fields = [(c.key or f"column_{i}", Any) for i, c in enumerate(columns)]
        row = NamedTuple("Row", fields)  # type: ignore[misc]
        return cls(
            sql=expanded.statement,
            positions=tuple(expanded.positiontup or ()) if compiled.positional else None,
            fixed={
                name: processors[name](value) if name in processors else value
                for name, value in expanded.parameters.items()
                if name not in required
            },
            binds={name: p for name, p in processors.items() if name in required},
            row=row if columns else None,
            results=tuple(_result_processor(c.type, dialect) for c in columns),
        )

    def fetch(self, connection: Connection, **parameters: Any) -> Sequence[Any]:
        """Run on `connection`'s driver connection; the rows, each a named tuple, if any.

        A driver error is raised as SQLAlchemy would raise it, and a lost connection is
        invalidated as SQLAlchemy would, so callers and error handlers see no difference.
        """
        # Known from the statement: asking the cursor (description) costs psycopg more than the
        # fetch.
        raw, _ = self._execute(connection, parameters, lambda cursor: cursor.fetchall())
        if self.row is None or not raw:
            return []
        # Converted a column at a time, only the columns whose type converts: a tracker batch
        # reads 2,000 rows, and a loop over each row's values took 5 ms of them, this 1 ms.
        columns: list[Iterable[Any]] = list(zip(*raw, strict=True))
        for i, convert in enumerate(self.results):
            if convert is not None:
                columns[i] = map(convert, columns[i])
        return list(map(self.row._make, zip(*columns, strict=True)))

    def count(self, connection: Connection, **parameters: Any) -> int:
        """Run as `fetch` does; the number of rows the statement wrote (or returned), none read.

        For a write that must not hold its lock while Python runs: on SQLite a statement with
        RETURNING keeps its write lock until its rows are read, a read that waits for the GIL,
        while a plain UPDATE commits within the one call that runs it.
        """
        _, rowcount = self._execute(connection, parameters, None)
        return rowcount

    def _execute(
        self,
        connection: Connection,
        parameters: Mapping[str, Any],
        read: Callable[[Any], list[Any]] | None,
    ) -> tuple[list[Any], int]:
        values = dict(self.fixed)
        for name, value in parameters.items():
            processor = self.binds.get(name)
            values[name] = processor(value) if processor else value
        arguments: Any = values if self.positions is None else [values[n] for n in self.positions]
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            try:
                cursor.execute(self.sql, arguments)
                raw = read(cursor) if read is not None and self.row is not None else []
                return raw, cursor.rowcount
            finally:
                cursor.close()
        except connection.dialect.loaded_dbapi.Error as error:
            lost = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
            if lost:
                connection.invalidate()
            raise DBAPIError.instance(
                self.sql,
                arguments,
                error,
                connection.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from error


def _inline_if_given(bind: BindParameter[Any]) -> None:
    if not bind.required:
        bind.literal_execute = True


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> _Processor | None:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> _Processor | None:
    return type_.dialect_impl(dialect).result_processor(dialect, None)
