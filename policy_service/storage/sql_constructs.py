"""SQL constructs the contact statements share, each compiled per dialect and cacheable.

``one_of`` is ``column IN (...)`` that binds one array on PostgreSQL; ``constants_in`` writes
the service's own fixed words into the statement instead; ``kept_fields`` is the
part of a record's JSON that ``anonymize`` keeps, cut out by the database itself. Both carry
a cache key (their own traversal): a construct without one makes every statement that uses
it compile afresh on each call (tests/integration/test_lifecycle_statements.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Boolean, String, any_, bindparam, literal_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Compiled, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from audit.writer import AheadStatement


class _OneOf(ColumnElement[bool]):
    """``column IN (...)`` for a list of ids. On PostgreSQL it binds one array parameter
    (``= ANY(%(ids)s)``) instead of one parameter per id: for a 500-contact chunk, rendering
    and parsing the expanded list cost more than running the statement."""

    # The cache key covers the column and both parameters (each dialect renders one of them),
    # so a cached statement takes each call's own values. Without a traversal of its own the
    # construct had no cache key at all: every statement using it was compiled on each call.
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("plain", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True
    type = Boolean()

    def __init__(self, column: Any, values: Sequence[str] | str) -> None:
        self.column = column
        if isinstance(values, str):  # the name of a parameter given at execution, twice
            self.values = bindparam(values, type_=ARRAY(String()))
            self.plain = column.in_(bindparam(f"{values}_list", expanding=True))
        else:
            self.values = bindparam(None, list(values), type_=ARRAY(String()))
            self.plain = column.in_(list(values))


@compiles(_OneOf)
def _one_of_default(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.plain, **kw))


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column == any_(element.values), **kw))


def one_of(column: Any, values: Sequence[str]) -> Any:
    return _OneOf(column, values)


def one_of_param(column: Any, name: str) -> Any:
    """``one_of`` for a statement built once: the ids are given at execution, as
    ``one_of_values(name, ids)``."""
    return _OneOf(column, name)


def one_of_values(name: str, values: Sequence[str]) -> dict[str, list[str]]:
    return {name: list(values), f"{name}_list": list(values)}


_WORD = re.compile(r"[a-z][a-z_]{0,63}\Z")


def constant(word: str) -> ColumnElement[str]:
    """A word of the service's own vocabulary (a record kind, a state) written into the SQL
    instead of bound. A statement's fixed lists then cost nothing per call: an ``IN`` of bound
    values is expanded (rendered again) on every execution, and its many parameters put it
    past what psycopg caches of a statement's conversion. The word is part of the cache key.

    Only for the service's constants, never a caller's string: anything but a plain
    lower-case word is refused."""
    if not _WORD.match(word):
        raise ValueError(f"not a constant of the service's vocabulary: {word!r}")
    return literal_column(f"'{word}'", String())


def constants_in(column: Any, words: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with the words written in (see ``constant``)."""
    result: ColumnElement[bool] = column.in_([constant(word) for word in sorted(words)])
    return result


class _KeptFields(ColumnElement[str]):
    """A record's JSON ``data`` cut down to ``fields`` (those present), as JSON text: what
    ``anonymize`` keeps, computed by the database so the cascade stays one statement."""

    _traverse_internals = [
        ("data", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
        ("expanding", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True
    type = String()

    def __init__(self, data: Any, fields: Sequence[str]) -> None:
        self.data = data
        self.array = bindparam(None, list(fields), type_=ARRAY(String()))
        self.expanding = bindparam(None, list(fields), expanding=True, type_=String())


# json_each gives JSON true/false as 1/0 on SQLite: they are put back as JSON, not numbers.
# Only compiled SQL goes into the holes: the data column and a bound parameter.
_KEPT_SQLITE = (
    "COALESCE((SELECT json_group_object(e.key, CASE e.type WHEN 'true' THEN json('true')"
    " WHEN 'false' THEN json('false') ELSE e.value END) FROM json_each({data}) AS e"
    " WHERE e.key IN {fields}), '{{}}')"
)
_KEPT_POSTGRESQL = (
    "COALESCE((SELECT json_object_agg(e.key, e.value) FROM json_each(CAST({data} AS json))"
    " AS e WHERE e.key = ANY({fields}))::text, '{{}}')"
)


@compiles(_KeptFields)
def _kept_fields_sqlite(element: _KeptFields, compiler: Any, **kw: Any) -> str:
    return _KEPT_SQLITE.format(
        data=compiler.process(element.data, **kw),
        fields=compiler.process(element.expanding, **kw),
    )


@compiles(_KeptFields, "postgresql")
def _kept_fields_postgresql(element: _KeptFields, compiler: Any, **kw: Any) -> str:
    return _KEPT_POSTGRESQL.format(
        data=compiler.process(element.data, **kw),
        fields=compiler.process(element.array, **kw),
    )


def kept_fields(data: Any, fields: Sequence[str]) -> Any:
    """``data`` (a JSON text column) cut down to ``fields``, as JSON text."""
    return _KeptFields(data, fields)


def statement_ahead(session: Session, statement: Any, values: dict[str, Any]) -> AheadStatement:
    """A write whose result nobody reads but its row count, for the audit writer to send
    ahead of the events that record it (``UnitOfWork.record(..., ahead=...)``): on
    PostgreSQL, the statement as the driver's SQL and parameters, so the database runs it
    while the writer encodes the events, in the same round trip. Elsewhere it runs now, and
    comes back with its row count already set.

    The statement must be built once (its compiled form is kept per statement object), and
    its parameters must need no conversion on their way to the driver."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        result = session.execute(statement, values)
        return AheadStatement("", {}, rowcount=result.rowcount)  # type: ignore[attr-defined]
    compiled = _compiled(statement, dialect)
    # The statement's own bound values (e.g. the fields anonymize keeps) and the call's.
    return AheadStatement(compiled.string, compiled.construct_params(values) or {})


@functools.lru_cache(maxsize=128)
def _compiled(statement: Any, dialect: Dialect) -> Compiled:
    compiled: Compiled = statement.compile(dialect=dialect)
    return compiled
