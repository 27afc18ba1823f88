"""Keyset pagination: stable opaque cursors over a fixed sort key, never offsets.

A page is fetched with one row more than asked for, which tells whether a next page exists without a count.
Cursors carry the sort key of the last row and the name of the connection they belong to, so a cursor from one
connection handed to another is refused instead of silently misread.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import ColumnElement, literal, tuple_

from resolvers.errors import BadUserInput

DEFAULT_PAGE_SIZE = 20
# The default of DPOR_MAX_PAGE_SIZE. The bound in force is the setting's: the request context carries it to every
# page (RequestContext.max_page_size), and the cost check reads the same setting.
MAX_PAGE_SIZE = 100

T = TypeVar("T")


def page_size(first: int | None, maximum: int) -> int:
    """`first` checked against the page-size bound in force; omitted, the default (never above the bound)."""
    if first is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}", field="first", maximum=maximum)
    return first


@dataclass(frozen=True, slots=True)
class Paging:
    """A connection's `first` and `after` as the client gave them, with the page-size bound in force: the size is
    checked where the read happens (`size()`), so its BAD_USER_INPUT comes after the checks that precede it there."""

    first: int | None = None
    after: str | None = None
    maximum: int = MAX_PAGE_SIZE

    def size(self) -> int:
        return page_size(self.first, self.maximum)


def _to_json(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


@dataclass(frozen=True)
class SortKey:
    """Columns a connection is ordered by (the last one unique), their parsers, and the direction."""

    name: str
    columns: Sequence[Any]
    parsers: Sequence[Callable[[Any], Any]]
    descending: bool = False

    def order_by(self) -> list[Any]:
        return [column.desc() if self.descending else column.asc() for column in self.columns]

    def cursor(self, values: Sequence[object]) -> str:
        payload = orjson.dumps([self.name, [_to_json(value) for value in values]])
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    def decode(self, cursor: str, *, field: str = "after") -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
            name, values = orjson.loads(raw)
            if name != self.name or len(values) != len(self.columns):
                raise ValueError("cursor of another connection")
            return [parse(value) for parse, value in zip(self.parsers, values, strict=True)]
        except (ValueError, TypeError, UnicodeError, binascii.Error, orjson.JSONDecodeError):
            raise BadUserInput(f"{field} is not a cursor of this connection", field=field) from None

    def after(self, cursor: str | None) -> ColumnElement[bool] | None:
        """Rows strictly after the cursor in this order: a row-value comparison, which both PostgreSQL and
        SQLite (3.15+) evaluate against the (sort, id) index."""
        if cursor is None:
            return None
        values = self.decode(cursor)
        row = tuple_(*self.columns)
        bound = tuple_(*(literal(value, column.type) for value, column in zip(values, self.columns, strict=True)))
        return row < bound if self.descending else row > bound


def parse_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(hex=value)


def parse_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed


def parse_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


@dataclass
class Page(Generic[T]):
    """One page of rows with their cursors, and whether more follow."""

    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def build_page(
    rows: Sequence[T],
    size: int,
    key: SortKey,
    values_of: Callable[[T], Sequence[object]],
    *,
    after: str | None,
) -> Page[T]:
    items = list(rows[:size])
    return Page(
        items=items,
        cursors=[key.cursor(values_of(item)) for item in items],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )
