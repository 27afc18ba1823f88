"""Engine and session factories for SQLite (dev, tests) and PostgreSQL (production).

SQLite needs three adjustments to behave like the database the code is written for:
- foreign keys are off unless asked for, per connection;
- pysqlite opens transactions lazily and on its own terms, so we emit BEGIN ourselves;
- SQLite ignores SELECT ... FOR UPDATE, so write transactions start with BEGIN IMMEDIATE, taking the write lock
  up front: two writers are serialized instead of one failing at commit time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False, statement_timeout_ms: int = 0) -> AsyncEngine:
    """`statement_timeout_ms` (PostgreSQL; 0 = none) makes the server cancel any statement running longer.
    SQLite has no such setting; the per-request execution deadline covers it there."""
    if is_sqlite(url):
        return _create_sqlite_engine(url, echo=echo)
    connect_args = {"server_settings": {"statement_timeout": str(statement_timeout_ms)}} if statement_timeout_ms else {}
    return create_async_engine(
        url,
        echo=echo,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _create_sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    sqlite_url = make_url(url)
    if sqlite_url.database and sqlite_url.database != ":memory:":
        from pathlib import Path

        Path(sqlite_url.database).parent.mkdir(parents=True, exist_ok=True)
    # NullPool: aiosqlite runs each connection in a thread; opening one per session is cheap and avoids holding
    # a connection (and possibly a lock) across requests.
    engine = create_async_engine(url, echo=echo, poolclass=NullPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" event below decides how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """The engine plus two session factories: reads, and writes that lock what they change."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Reads run outside a transaction on PostgreSQL: a read session issues one statement (each loader batch has
        # its own session), so BEGIN and ROLLBACK would only add two round trips to every batch.
        reader = engine.execution_options(isolation_level="AUTOCOMMIT") if self.dialect == "postgresql" else engine
        self.read_sessions = async_sessionmaker(reader, expire_on_commit=False, autoflush=False)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.dialect == "sqlite" else engine
        self.write_sessions = async_sessionmaker(writer, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, echo: bool = False, statement_timeout_ms: int = 0) -> Database:
        return cls(create_engine(url, pool_size=pool_size, echo=echo, statement_timeout_ms=statement_timeout_ms))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back (and re-raised) on any error."""
        async with self.write_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
