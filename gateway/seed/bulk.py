"""Writing many rows fast, inside the caller's transaction, on either database.

PostgreSQL: COPY through asyncpg, fed by generators, so memory stays bounded however many rows there are.
SQLite: `executemany` of one INSERT in chunks.

Values reach the driver in the form SQLAlchemy itself would send: each column's own bind processor converts
them (UTCDateTime to naive UTC text, ExactDecimal to a scaled integer on SQLite, enums to their names), so the
rules of db/types.py live in one place. Small tables hand `insert` model values and let it bind row by row.

The usage table is different: millions of rows, built from a few pre-computed pieces. Its generator binds
each piece once and asks `fragment` to render it, and a row is the concatenation of its fragments: tuples for
executemany, or, on PostgreSQL, lines of COPY's text format. Text, because asyncpg's binary encoders convert
every timestamp and numeric again on each row (about 5 microseconds of Python per usage row, measured),
while a pre-rendered line costs one string concatenation and PostgreSQL parses it in C.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from db.base import Base

Row = tuple[Any, ...]
Bind = Callable[[Any], Any]
# A piece of a row `fragment` rendered: a tuple (executemany) or a line piece of COPY text (PostgreSQL).
Fragment = Any
T = TypeVar("T")

# Rows per COPY statement or executemany call: big enough that per-statement costs vanish, small enough that a
# chunk of SQLite parameters stays a few megabytes.
POSTGRES_CHUNK_ROWS = 500_000
SQLITE_CHUNK_ROWS = 10_000
# Lines of COPY text sent to the server per write.
COPY_TEXT_LINES = 5_000
# COPY text format: these characters in a value must be escaped with a backslash.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def table_of(model: type[Base]) -> Table:
    """A model's Table (declarative models type `__table__` as the wider FromClause)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _identity(value: Any) -> Any:
    return value


class BulkWriter:
    """Bulk inserts on one connection whose transaction the caller owns."""

    def __init__(self, connection: AsyncConnection, driver_connection: Any | None) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self._driver = driver_connection

    @classmethod
    async def open(cls, connection: AsyncConnection) -> BulkWriter:
        if not connection.in_transaction():
            raise RuntimeError("bulk writes run inside the caller's transaction; begin one first")
        if connection.dialect.name != "postgresql":
            return cls(connection, None)
        driver = (await connection.get_raw_connection()).driver_connection
        if driver is None:
            raise RuntimeError("the connection has no driver connection")
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement. A COPY sent straight
            # to the driver before that would autocommit on its own; one statement makes it join the
            # transaction.
            await connection.exec_driver_sql("SELECT 1")
        if not driver.is_in_transaction():
            raise RuntimeError("the driver connection did not begin the caller's transaction")
        return cls(connection, driver)

    def binder(self, table: Table, column: str) -> Bind:
        """The conversion SQLAlchemy applies to a value of `column` before handing it to the driver."""
        # The dialect's implementation, not the generic type: on SQLite, the string format of DateTime (with
        # microseconds) belongs to the SQLite DATETIME type; skipping it stores text that compares wrongly.
        processor = table.c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return processor if processor is not None else _identity

    async def insert(self, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> int:
        """Insert `rows` of model values (tuples in the order of `columns`); return how many were written."""
        bound = self._bind_rows(table, columns, rows)
        if self._driver is not None:
            return await self._copy(table, columns, bound)
        return await self._executemany(table, columns, bound)

    def fragment(self, values: Sequence[Any], *, ends_row: bool) -> Fragment:
        """Bound values rendered for `insert_fragments`; fragments concatenate (`+`) into rows."""
        if self._driver is None:
            return tuple(values)
        return "\t".join(map(_copy_text, values)) + ("\n" if ends_row else "\t")

    async def insert_fragments(self, table: Table, columns: Sequence[str], rows: Iterable[Fragment]) -> int:
        """Insert rows made of `fragment`s, in the order of `columns`; return how many were written."""
        if self._driver is None:
            return await self._executemany(table, columns, rows)
        written = 0
        for chunk in _chunks(rows, POSTGRES_CHUNK_ROWS):
            status = await self._driver.copy_to_table(
                table.name, source=_encoded(chunk), columns=list(columns), format="text"
            )
            written += int(status.rsplit(" ", 1)[1])  # "COPY <n>"
        return written

    def _bind_rows(self, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> Iterator[Row]:
        binds = [self.binder(table, column) for column in columns]
        for row in rows:
            yield tuple(bind(value) for bind, value in zip(binds, row, strict=True))

    async def _copy(self, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> int:
        written = 0
        driver = self._driver
        assert driver is not None
        for chunk in _chunks(rows, POSTGRES_CHUNK_ROWS):
            status = await driver.copy_records_to_table(table.name, records=chunk, columns=list(columns))
            written += int(status.rsplit(" ", 1)[1])  # "COPY <n>"
        return written

    async def _executemany(self, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> int:
        statement = self._insert_statement(table, columns)
        written = 0
        for chunk in _chunks(rows, SQLITE_CHUNK_ROWS):
            batch = list(chunk)
            await self.connection.exec_driver_sql(statement, batch)
            written += len(batch)
        return written

    def _insert_statement(self, table: Table, columns: Sequence[str]) -> str:
        # Written out rather than compiled from table.insert(): the compiler puts columns in table order, and
        # the parameters here are positional, in the caller's order.
        if self.dialect.paramstyle != "qmark":
            raise RuntimeError(f"unexpected paramstyle {self.dialect.paramstyle} for executemany")
        quote = self.dialect.identifier_preparer.quote
        names = ", ".join(quote(table.c[column].name) for column in columns)
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"


def _copy_text(value: Any) -> str:
    """A bound value in COPY's text format (the types the usage table's bind processors produce)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):  # and datetime: ISO 8601, with the UTC offset of an aware instant
        return value.isoformat()
    if isinstance(value, (uuid.UUID, int)):
        return str(value)
    raise TypeError(f"no COPY text form for {type(value).__name__}")


async def _encoded(lines: Iterator[str]) -> AsyncIterator[bytes]:
    while block := "".join(itertools.islice(lines, COPY_TEXT_LINES)):
        yield block.encode()


def _chunks(rows: Iterable[T], size: int) -> Iterator[Iterator[T]]:
    """Lazy chunks of at most `size` rows; each must be consumed before asking for the next."""
    iterator = iter(rows)
    for first in iterator:
        yield itertools.chain((first,), itertools.islice(iterator, size - 1))
