"""Writing many rows fast, inside the caller's transaction, on either database.

PostgreSQL: binary COPY through asyncpg's `copy_records_to_table`, fed by a generator, so memory stays bounded
however many rows there are. SQLite: `executemany` of the compiled INSERT in chunks.

Values reach the driver in the form SQLAlchemy itself would send: each column's own bind processor converts
them (UTCDateTime to naive UTC text, ExactDecimal to a scaled integer on SQLite, enums to their names), so the
rules of db/types.py live in one place. Large generators convert a small pool of values once with `binder`
and hand in rows that are already bound; small tables let `insert` bind row by row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from db.base import Base

Row = tuple[Any, ...]
Bind = Callable[[Any], Any]

# Rows per COPY statement or executemany call: big enough that per-statement costs vanish, small enough that a
# chunk of SQLite parameters stays a few megabytes.
POSTGRES_CHUNK_ROWS = 500_000
SQLITE_CHUNK_ROWS = 10_000


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

    async def insert(
        self, table: Table, columns: Sequence[str], rows: Iterable[Row], *, bound: bool = False
    ) -> int:
        """Insert `rows` (tuples in the order of `columns`); return how many were written.

        `bound=True` says the values already went through `binder`; otherwise each row is bound here.
        """
        if not bound:
            rows = self._bind_rows(table, columns, rows)
        if self._driver is not None:
            return await self._copy(table, columns, rows)
        return await self._executemany(table, columns, rows)

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


def _chunks(rows: Iterable[Row], size: int) -> Iterator[Iterator[Row]]:
    """Lazy chunks of at most `size` rows; each must be consumed before asking for the next."""
    iterator = iter(rows)
    for first in iterator:
        yield itertools.chain((first,), itertools.islice(iterator, size - 1))
