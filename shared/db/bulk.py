"""Many rows written by one statement: the rows sent as one JSON text and unpacked by the
database (`json_to_recordset` on PostgreSQL, `json_each` on SQLite).

For the Remote Order Processor's batches: a multi-row INSERT of 2,000 orders cost more to bind
(SQLAlchemy's parameters, psycopg's parsing of a 40,000-parameter statement) than to write;
one JSON parameter is parsed by the database in C (docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Dialect, FromClause, Text, bindparam, cast, column, func, select
from sqlalchemy.types import TypeEngine


def json_rows(dialect: Dialect, name: str, columns: Mapping[str, TypeEngine[Any]]) -> FromClause:
    """The rows bound to parameter `name` (`to_json`'s text) as a FROM clause with `columns`.

    Values are the JSON's own: numbers, strings, booleans, null; a date as its ISO text. On
    SQLite a boolean arrives as 1 or 0 and a date as its text, as SQLite stores them.
    """
    if dialect.name == "postgresql":
        recordset = func.json_to_recordset(cast(bindparam(name, type_=Text), JSON))
        typed = [column(key, type_) for key, type_ in columns.items()]
        return recordset.table_valued(*typed).render_derived(name=name, with_types=True)
    each = func.json_each(bindparam(name, type_=Text)).table_valued("value")
    fields = [func.json_extract(each.c.value, f"$.{key}").label(key) for key in columns]
    return select(*fields).subquery(name)


def to_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """`rows` as the text `json_rows` unpacks."""
    return json.dumps(rows, separators=(",", ":"), default=_encode)


def _encode(value: object) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    # A time would need the column's own format on SQLite: bind it as a parameter instead.
    raise TypeError(f"{type(value).__name__} cannot be sent in a JSON row")
