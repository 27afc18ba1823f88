"""The gateway's own statements as the floor runs them: compiled once for asyncpg, then sent as text.

The floor builds no SQL of its own for the reads it shares with the gateway: it takes the statement objects the
gateway's builders return (they are built once per shape and kept, so the same object comes back for the same
shape), compiles each the first time it is seen (`compiled`; bench.floor does it at start-up for the benchmark's
windows) to asyncpg's text with positional `$n` parameters, and binds the gateway's own parameter values to them
by name. So its statements are the gateway's by construction, and what it saves is only what the gateway's
layers cost: GraphQL, the ORM's result handling, SQLAlchemy's execution path and policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameter of each $n, in order
    constants: Mapping[str, Any]  # values the statement carries itself ('month', 'UTC', one second, ...)

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments: the caller's values by name, the statement's own constants for the rest (a
        parameter in neither is a KeyError, never a NULL)."""
        return [values[name] if name in values else self.constants[name] for name in self.names]


# Keyed by the statement object itself, which the dict keeps alive: an id() could be reused by another.
_compiled: dict[ClauseElement, Compiled] = {}


def _bound(result: SQLCompiler, name: str, value: Any) -> Any:
    """A constant as its type sends it (an enum member as its database label, ...), as SQLAlchemy would."""
    type_ = result.binds[name].type
    processor = type_.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    return value if processor is None else processor(value)


def compiled(statement: ClauseElement) -> Compiled:
    found = _compiled.get(statement)
    if found is None:
        result = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        constants = {name: _bound(result, name, value) for name, value in result.params.items() if value is not None}
        found = _compiled[statement] = Compiled(result.string, tuple(result.positiontup or ()), constants)
    return found


async def fetch(connection: asyncpg.Connection, statement: ClauseElement, values: Mapping[str, Any]) -> list[Any]:
    found = compiled(statement)
    return await connection.fetch(found.sql, *found.arguments(values))  # type: ignore[no-any-return]
