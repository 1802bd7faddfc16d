"""Core statements run straight on the driver's cursor, compiled once (see Prepared)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Dialect, Insert, Update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


class Prepared:
    """A Core statement that runs straight on the driver's cursor of a session's connection,
    in its transaction: SQLAlchemy compiles it once per dialect and set of parameter names,
    and is then out of the way. Its execution path (parameters built and processed anew,
    the execution context, the result wrapped) about doubles a statement's cost: the
    events INSERT and the dedup lookup took 85-160 us through it, 37-58 us here, of which
    the driver and SQLite 25-40. A message runs about fifteen of these statements.

    Parameters are processed by their types as SQLAlchemy would (aware datetimes to naive
    UTC, JSON), and omitted columns get their Python-side defaults (``default``, and for an
    UPDATE ``onupdate``). Statements whose results would need processing (datetimes, JSON),
    and expanding IN parameters, are refused when compiled: those go through SQLAlchemy.
    Driver errors are raised wrapped as SQLAlchemy wraps them (OperationalError, ...).
    """

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        """``statement``, or a function giving it for a dialect's name (an upsert, say)."""
        self._statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def execute(self, session: Session, values: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed."""
        with self._cursor(session, values) as cursor:
            return int(cursor.rowcount)

    def first(self, session: Session, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run it; its first row, or None."""
        with self._cursor(session, values) as cursor:
            row: tuple[Any, ...] | None = cursor.fetchone()  # both drivers give tuples
            return row

    def scalar(self, session: Session, values: Mapping[str, Any]) -> Any:
        """Run it; the first column of its first row, or None."""
        row = self.first(session, values)
        return None if row is None else row[0]

    def all(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it; all its rows."""
        with self._cursor(session, values) as cursor:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

    @contextmanager
    def _cursor(self, session: Session, values: Mapping[str, Any]) -> Iterator[Any]:
        connection = session.connection()
        dialect = connection.dialect
        key = (dialect.name, frozenset(values))
        compiled = self._compiled.get(key) or self._compile(dialect, key[1])
        parameters = compiled.parameters(values)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            yield cursor
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                compiled.sql, parameters, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect, names: frozenset[str]) -> _Compiled:
        statement = self._statement
        if not isinstance(statement, ClauseElement):
            statement = statement(dialect.name)
        compiled = _Compiled(statement, dialect, names)
        self._compiled[(dialect.name, names)] = compiled
        return compiled


class _Compiled:
    """One compilation of a Prepared statement: its SQL, and how to build its parameters."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: frozenset[str]) -> None:
        writes = isinstance(statement, Insert | Update)
        compiled = statement.compile(dialect=dialect, column_keys=list(names) if writes else None)
        assert isinstance(compiled, SQLCompiler)
        if any(bind.expanding for bind in compiled.bind_names):
            raise TypeError("Prepared: an expanding IN parameter; run it through SQLAlchemy")
        for result in compiled._result_columns:
            if result.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise TypeError(f"Prepared: result column {result.name!r} needs processing")
        self.sql = compiled.string
        # Values the statement holds (LIMIT 1), then the columns left out that have a
        # Python-side default: SQLAlchemy compiled a parameter for each ("prefetch"),
        # filled here as its execution would, a function's value anew each time.
        self.fixed = {
            name: bind.value for bind, name in compiled.bind_names.items() if not bind.required
        }
        self.defaults: dict[str, Callable[[], Any]] = {}
        for column, default in [
            *((c, c.default) for c in compiled.insert_prefetch),
            *((c, c.onupdate) for c in compiled.update_prefetch),
        ]:
            if not isinstance(default, ColumnDefault):  # a SQL expression or a sequence
                raise TypeError(f"Prepared: the default of {column.key!r} is not Python-side")
            if default.is_callable:  # SQLAlchemy's wrapper, which takes the execution context
                self.defaults[column.key] = functools.partial(default.arg, None)
            else:
                self.fixed[column.key] = default.arg
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in compiled.bind_names.items()
        }
        # qmark (SQLite) binds by position, a name as often as it appears; pyformat
        # (psycopg) by name.
        order = compiled.positiontup
        self.positional = order is not None
        self.names = list(order or processors)
        self.steps = [(name, processors[name]) for name in self.names]

    def parameters(self, values: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        given = {**self.fixed, **values}
        given.update((key, make()) for key, make in self.defaults.items())
        built = [process(given[n]) if process else given[n] for n, process in self.steps]
        return built if self.positional else dict(zip(self.names, built, strict=True))
