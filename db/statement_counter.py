"""Count the SQL statements one unit of work (a GraphQL request) sends, without passing a counter around.

A SQLAlchemy `before_cursor_execute` listener adds one to the counter held in a context variable. The variable
is set per request (`counting()`), so concurrent requests never share a count; statements run outside any
counting block (migrations, health checks) are not counted. SQLAlchemy's asyncio layer runs the listener in a
greenlet that shares the calling task's context, so the count is visible to the request that caused it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class StatementCount:
    statements: int = 0
    # A count opened inside another (one operation of a batched request) also adds to the enclosing one.
    parent: StatementCount | None = None

    def add(self) -> None:
        count: StatementCount | None = self
        while count is not None:
            count.statements += 1
            count = count.parent


_current: ContextVar[StatementCount | None] = ContextVar("dpor_statement_count", default=None)


def _before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
    count = _current.get()
    # The SQLite engine emits its own BEGIN (db/engine.py); asyncpg begins implicitly. Skipping transaction
    # control keeps the count the same on both backends: it counts the queries the code asked for.
    if count is not None and not statement.startswith("BEGIN"):
        count.add()


def install(engine: AsyncEngine) -> None:
    """Count the statements of this engine (idempotent: one listener however often it is called)."""
    if not event.contains(engine.sync_engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(engine.sync_engine, "before_cursor_execute", _before_cursor_execute)


@contextmanager
def counting() -> Iterator[StatementCount]:
    """Count the statements sent inside this block (and inside tasks it starts) into a fresh counter."""
    count = StatementCount(parent=_current.get())
    token = _current.set(count)
    try:
        yield count
    finally:
        _current.reset(token)


def current() -> StatementCount | None:
    """The counter of the enclosing `counting()` block, if any."""
    return _current.get()
