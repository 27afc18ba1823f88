"""Engine and session factories for SQLite (dev, tests) and PostgreSQL (production).

SQLite needs three adjustments to behave like the database the code is written for:
- foreign keys are off unless asked for, per connection;
- pysqlite opens transactions lazily and on its own terms, so we emit BEGIN ourselves;
- SQLite ignores SELECT ... FOR UPDATE, so write transactions start with BEGIN IMMEDIATE, taking the write lock
  up front: two writers are serialized instead of one failing at commit time.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from db import row_security
from db.row_security import Caller, Enforcement

if TYPE_CHECKING:
    from db.replicas import Replicas

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, statement_timeout_ms: int = 0, pgbouncer: bool = False
) -> AsyncEngine:
    """`statement_timeout_ms` (PostgreSQL; 0 = none) makes the server cancel any statement running longer.
    SQLite has no such setting; the per-request execution deadline covers it there. `pgbouncer`: see
    `_pgbouncer_connect_args`."""
    if is_sqlite(url):
        return _create_sqlite_engine(url, echo=echo)
    connect_args: dict[str, Any] = (
        _pgbouncer_connect_args()
        if pgbouncer
        else {"server_settings": {"statement_timeout": str(statement_timeout_ms)}}
        if statement_timeout_ms
        else {}
    )
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    event.listen(engine.sync_engine.pool, "reset", row_security.roll_back_what_was_left)
    return engine


def _pgbouncer_connect_args() -> dict[str, Any]:
    """Connecting through PgBouncer in transaction mode (1.18, Debian's, keeps no prepared statements there): each
    transaction, or statement outside one, may run on another server connection. asyncpg's documentation (FAQ,
    "Why am I getting prepared statement errors?") says: `statement_cache_size=0`; asyncpg then uses unnamed
    statements and parses again before it binds (asyncpg#1065). SQLAlchemy's dialect prepares every statement
    itself: its cache off, and names of its own (unique, so two clients sharing a server connection never clash;
    SQLAlchemy's documentation, "Prepared Statement Name with PGBouncer"). No startup parameters either: PgBouncer
    refuses unknown ones, so `statement_timeout` is set on the role instead (README, "PgBouncer")."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
    }


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling without a round trip (SQLAlchemy's "checkout" event recipe).

    `pool_pre_ping` sends a statement (in its own BEGIN/ROLLBACK: three round trips) on every checkout. asyncpg
    already learns of a connection the server closed (restart, pg_terminate_backend, idle reaping) as soon as the
    event loop reads the end of its socket, so asking it costs nothing. Raising DisconnectionError makes the pool
    discard the connection and check out (or open) another. A peer that vanished without closing is left to the
    statement timeout and the request deadline, as it would be mid-request.
    """
    connection = getattr(dbapi_connection, "_connection", None)
    if connection is not None and connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


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
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # read sessions: every statement on its own, as on PostgreSQL
        connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")

    return engine


class DriverPool:
    """asyncpg's own pool, for the final statement texts of compiled reads (`fetch_value_on_driver`).

    Why a second pool beside SQLAlchemy's: checking a connection out of SQLAlchemy's asyncio pool and back in
    crosses into and out of a greenlet three times, which cost more CPU than the compiled statement itself (the
    fast lane's profile of read (3): 1.4 of 2.1 ms under cProfile). Opened on first use, with the engine's URL,
    pool size and statement timeout; connections are not reset on release, since nothing on them changes any
    session state (one autocommit SELECT each; asyncpg still rolls back a transaction left open).
    """

    def __init__(self, engine: AsyncEngine, *, statement_timeout_ms: int = 0, pgbouncer: bool = False) -> None:
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        size = getattr(engine.pool, "size", None)
        self._max_size = max(1, size()) if callable(size) else 10
        timeout = statement_timeout_ms and not pgbouncer
        self._server_settings = {"statement_timeout": str(statement_timeout_ms)} if timeout else {}
        # Behind PgBouncer: unnamed statements only (see _pgbouncer_connect_args); else asyncpg's default cache.
        self._statement_cache_size = 0 if pgbouncer else 100
        if not pgbouncer:
            # One generic plan per compiled statement, made once per connection: a compiled text's parameters are
            # ids, windows and page sizes, which no plan choice turns on, and planning was most of the database's
            # time (read (1) under row-level security: 10.7 ms a request with custom plans, 2.1 ms with the
            # generic one; as the superuser 3.5 and 1.4; bench/results/2026-12-04-rls.md). Behind PgBouncer every
            # statement is unnamed, planned where it runs, and the setting would not reach the server anyway.
            self._server_settings["plan_cache_mode"] = "force_generic_plan"
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock = asyncio.Lock()

    async def fetchval(self, sql: str, arguments: Sequence[object], caller: Caller | None = None) -> Any:
        pool = self._pool or await self._open()
        async with pool.acquire() as connection:
            if caller is None:
                return await connection.fetchval(sql, *arguments)
            told, told_arguments = row_security.told_statement(sql, arguments, caller)
            return await connection.fetchval(told, *told_arguments)

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._url,
                    min_size=0,
                    max_size=self._max_size,
                    max_inactive_connection_lifetime=300,
                    server_settings=self._server_settings,
                    statement_cache_size=self._statement_cache_size,
                    reset=_keep_session,
                )
            return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Nothing to reset (see DriverPool): asyncpg's default reset is a round trip per release."""


class Database:
    """The engine plus two session factories: reads, and writes that lock what they change."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        statement_timeout_ms: int = 0,
        pgbouncer: bool = False,
        row_security: bool | None = None,
    ) -> None:
        """`row_security` (PostgreSQL): tell the row-level security policies who each transaction works for
        (`acting`, db.row_security): always, never, or (None) when the connected role is subject to them; without a
        caller nothing is told, and the policies show nothing."""
        self.engine = engine
        self.dialect = engine.dialect.name
        postgresql = self.dialect == "postgresql"
        self.row_security = Enforcement(row_security, engine, postgresql=postgresql)
        self.caller: Caller | None = None
        self.driver = (
            DriverPool(engine, statement_timeout_ms=statement_timeout_ms, pgbouncer=pgbouncer) if postgresql else None
        )
        # Read replicas (db/replicas.py, set by gateway/wiring.py): only requests' reads are routed to them.
        self.replicas: Replicas | None = None
        # Reads run outside a transaction: each read statement stands alone (BEGIN and ROLLBACK would only add round
        # trips), and a request that reads after its own mutation committed sees the change.
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.dialect == "sqlite" else engine
        self.write_sessions = async_sessionmaker(writer, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        statement_timeout_ms: int = 0,
        pgbouncer: bool = False,
        row_security: bool | None = None,
    ) -> Database:
        engine = create_engine(
            url, pool_size=pool_size, echo=echo, statement_timeout_ms=statement_timeout_ms, pgbouncer=pgbouncer
        )
        return cls(engine, statement_timeout_ms=statement_timeout_ms, pgbouncer=pgbouncer, row_security=row_security)

    def acting(self, caller: Caller) -> Database:
        """This database working for `caller` (a system task, or a request's caller): same engine and pools."""
        acting = copy.copy(self)
        acting.caller = caller
        return acting

    async def _told(self) -> Caller | None:
        """The caller to tell the policies, if they are to be told."""
        if self.caller is None or not await self.row_security.enforced(self.engine):
            return None
        return self.caller

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        told = await self._told()
        async with self.read_sessions() as session, row_security.reading(session, told) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back (and re-raised) on any error."""
        async with self.write_sessions() as session, session.begin():
            if (caller := await self._told()) is not None:
                await row_security.apply_in_transaction(session, caller)
            yield session

    async def fetch_value_on_driver(self, sql: str, arguments: Sequence[object]) -> Any:
        """The one value of a final PostgreSQL statement text (`$n` parameters), sent on asyncpg itself: for
        compiled reads, whose text is built once, SQLAlchemy's statement layer, its pool and an ORM session around
        it would only add time (a session cost about a third of a compiled node read's CPU). The engine's
        `before_cursor_execute` listeners still see it."""
        if self.driver is None:
            async with self.reader.connect() as connection:
                return await _fetch_value(connection, sql, arguments)  # SQLite: no row-level security
        _announce(self.engine, sql, arguments)
        return await self.driver.fetchval(sql, arguments, await self._told())

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
        if self.driver is not None:
            await self.driver.close()
        await self.engine.dispose()

    def for_request(self) -> RequestDatabase:
        return RequestDatabase(self) if self.replicas is None else self.replicas.for_request(self)


async def _fetch_value(connection: AsyncConnection, sql: str, arguments: Sequence[object]) -> Any:
    raw = await connection.get_raw_connection()
    _announce(connection.engine, sql, arguments)
    return await raw.driver_connection.fetchval(sql, *arguments)  # type: ignore[union-attr]


def _announce(engine: AsyncEngine, sql: str, arguments: Sequence[object]) -> None:
    """The engine's statement listeners (the per-request count, tests' counters) see a statement sent on the
    driver as any other (they read only its text)."""
    sync = engine.sync_engine
    if sync.dispatch.before_cursor_execute:
        sync.dispatch.before_cursor_execute(None, None, sql, arguments, None, False)


class RequestDatabase(Database):
    """The database as one request sees it: its reads share one session, so one pooled connection.

    A GraphQL request reads in several steps (the caller's scope, then a DataLoader batch per level); a session
    each meant a pool checkout each. Here the first read opens the session and later ones reuse it, one at a time
    (a lock: asyncpg runs one statement per connection, and concurrent fields would otherwise interleave). Each
    read ends by emptying the identity map, so rows come back detached and fresh, exactly as from a session of
    their own; a read that fails drops the session, so the next one starts on a healthy connection. `close()` (the
    view calls it when the response is ready) returns the connection to the pool.

    A write takes a transaction of its own, on a connection of its own, and gives the read connection back first:
    a request never waits for a connection while holding one, so a burst of writers larger than the pool queues
    instead of deadlocking (each holding a read connection while waiting for a write connection).
    """

    def __init__(self, database: Database) -> None:
        # Shares the engine and session factories: nothing is built per request but the lock.
        self.engine = database.engine
        self.dialect = database.dialect
        self.read_sessions = database.read_sessions
        self.write_sessions = database.write_sessions
        self.reader = database.reader
        self.driver = database.driver
        self.replicas = database.replicas
        self.row_security = database.row_security
        self.caller = database.caller
        self._told_session: Caller | None = None  # the caller the open read session's transaction was told
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                self._session = await self._open_read_session()
            session = self._session
            try:
                await self._tell(session)
                yield session
            except BaseException:
                self._session, self._told_session = None, None
                await session.close()
                raise
            session.expunge_all()

    async def fetch_value_on_driver(self, sql: str, arguments: Sequence[object]) -> Any:
        """On the request's read connection when it holds one (never a second connection at once), else on a
        connection of its own for this statement only."""
        async with self._lock:
            if self._session is None:
                return await self._fetch_unheld(sql, arguments)
            session = self._session
            try:
                await self._tell(session)
                return await _fetch_value(await session.connection(), sql, arguments)
            except BaseException:
                self._session, self._told_session = None, None
                await session.close()
                raise

    async def _open_read_session(self) -> AsyncSession:
        """The session the request's reads share (db/replicas.py opens it on a replica)."""
        return self.read_sessions()

    async def _fetch_unheld(self, sql: str, arguments: Sequence[object]) -> Any:
        """A compiled read while the request holds no connection (db/replicas.py sends it to a replica)."""
        return await Database.fetch_value_on_driver(self, sql, arguments)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        await self.close()
        async with super().write() as session:
            yield session

    def for_request(self) -> RequestDatabase:
        return self

    def acting(self, caller: Caller) -> RequestDatabase:
        """From now on this request's transactions work for `caller` (the open read session's too)."""
        self.caller = caller
        return self

    async def _tell(self, session: AsyncSession) -> None:
        """The read session's transaction works for the request's caller of the moment (one round trip when the
        session opens or the caller changes, none otherwise)."""
        caller = await self._told()
        if caller is not None and caller != self._told_session:
            driver = await row_security.driver_of(session)
            await driver.execute(caller.set_sql if driver.is_in_transaction() else caller.begin_sql)
            self._told_session = caller

    async def close(self) -> None:
        async with self._lock:
            session, self._session = self._session, None
            told, self._told_session = self._told_session, None
            if session is not None:
                try:
                    if told is not None:
                        await row_security.end_on_driver(await row_security.driver_of(session))
                finally:
                    await session.close()
