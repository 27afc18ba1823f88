"""Where a plan's request-time values come from: arguments (literals of the document or variables), converted
into bind values as the interpreter would read them (ids decoded, page sizes checked, cursors decoded).

A conversion that fails means the interpreter would answer BAD_USER_INPUT: the planner checks every binding
against the request it plans for, and the plan key (`plan_inputs`) keeps every later request of the same plan on
the same side of each check that shapes the SQL (an `after` given or not, the type an id names)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import FieldNode, IntValueNode, NullValueNode, StringValueNode, VariableNode
from sqlalchemy.dialects import postgresql

from db import clock
from resolvers.compiled.errors import NotCompilable
from resolvers.errors import BadUserInput
from resolvers.pagination import page_size as checked_page_size

DecodeId = Callable[[str], tuple[str, uuid.UUID]]
DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


def driver_value(type_: Any, value: object) -> object:
    """A value as SQLAlchemy sends it for its type (an enum member as its name, ...): the runner sends bind values
    to asyncpg as they are."""
    processor = type_.dialect_impl(DIALECT).bind_processor(DIALECT)
    return value if processor is None or value is None else processor(value)


@dataclass(frozen=True, slots=True)
class Source:
    """An argument's value: a literal of the document, or a variable (None when absent or null)."""

    literal: object
    variable: str | None

    def value(self, variables: Mapping[str, Any]) -> object:
        return variables.get(self.variable) if self.variable is not None else self.literal


class Valued(Protocol):
    """Where a binding's value comes from: one argument (`Source`), or several read together (a usage window)."""

    def value(self, variables: Mapping[str, Any]) -> object: ...


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a list argument held by a variable (`nodes(ids: $ids)`)."""

    variable: str
    index: int

    def value(self, variables: Mapping[str, Any]) -> object:
        given = variables.get(self.variable)
        return given[self.index] if isinstance(given, list) and self.index < len(given) else None


@dataclass(frozen=True, slots=True)
class Binding:
    parameter: str
    source: Valued
    convert: Callable[[object], object]

    def value(self, variables: Mapping[str, Any]) -> object:
        return self.convert(self.source.value(variables))


def unchanged(value: object) -> object:
    """A binding's conversion for a value used as it is."""
    return value


def argument(node: FieldNode, name: str) -> Source:
    for given in node.arguments or ():
        if given.name.value != name:
            continue
        value = given.value
        if isinstance(value, VariableNode):
            return Source(None, value.name.value)
        if isinstance(value, StringValueNode):
            return Source(value.value, None)
        if isinstance(value, IntValueNode):
            return Source(int(value.value), None)
        if isinstance(value, NullValueNode):
            return Source(None, None)
        raise NotCompilable(f"argument {name}")
    return Source(None, None)


def only_arguments(node: FieldNode, allowed: set[str]) -> None:
    names = {given.name.value for given in node.arguments or ()}
    if not names <= allowed:
        raise NotCompilable(f"arguments {sorted(names - allowed)}")


def page_size(maximum: int) -> Callable[[object], object]:
    """resolvers.pagination.page_size under the bound in force, refusing instead of raising BAD_USER_INPUT."""

    def convert(value: object) -> object:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise NotCompilable("a page size that is not an integer")
        try:
            return checked_page_size(value, maximum)
        except BadUserInput as error:
            raise NotCompilable("a page size the interpreter refuses") from error

    return convert


def row_id(decode_id: DecodeId, expected: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise NotCompilable("an id that is not a string")
        try:
            type_name, found = decode_id(value)
        except Exception as error:
            raise NotCompilable("a malformed id") from error
        if type_name != expected:
            raise NotCompilable(f"an id of type {type_name}")
        return found

    return convert


def instant(value: object) -> object:
    """A DateTime argument as the scalar (schema/scalars._parse_datetime) reads it: a variable arrives parsed; a
    literal, which validation has parsed once already, is parsed again the same way (an offset, then UTC)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise NotCompilable("an instant that is not a string")
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(value)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError) as error:
        raise NotCompilable("an instant the scalar refuses") from error


def id_type(value: object, decode_id: DecodeId) -> str | None:
    """The type a global id names; "" for a string that is no global id (a cursor, junk); None for no string."""
    if not isinstance(value, str):
        return None
    try:
        return decode_id(value)[0]
    except Exception:
        return ""


def plan_inputs(variables: Mapping[str, Any], decode_id: DecodeId) -> tuple[tuple[str, object], ...]:
    """What a plan may depend on in the variables: booleans (@skip/@include, a filter's flags), whether a value is
    given at all (`after`, a filter's fields: an input object's shape), and the type an id names (`node`; of each
    id of a list, `nodes`).
    Everything else is a bind parameter; literal arguments are in the document text, which is part of the key
    already."""
    return tuple((name, _shape(value, decode_id)) for name, value in variables.items())


def _shape(value: object, decode_id: DecodeId) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return id_type(value, decode_id) if value else "<empty>"  # an empty search filters nothing
    if isinstance(value, Mapping):
        return tuple((name, _shape(field, decode_id)) for name, field in value.items())
    if isinstance(value, list):  # `nodes(ids:)`: how many, and the type each names
        return ("list", *(_shape(item, decode_id) for item in value))
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Clock:
    """The gateway's current instant (db.clock.now_in_seconds), read at each request as the interpreter's resolvers
    read it: a test that moves the clock moves both paths. Never the database's `now()`."""

    def value(self, variables: Mapping[str, Any]) -> object:
        return clock.now_in_seconds()
