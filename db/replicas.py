"""Read replicas: a request's reads go to a PostgreSQL streaming replica when one is healthy and fresh enough.

What is routed is only what a request reads through its RequestDatabase (db/engine.py): its read session and the
compiled path's statement (`fetch_value_on_driver`). Everything else stays on the primary: writes (a replica is
read-only), a mutation's reads (`reads_on_primary`, called before it executes), a request's reads after its own
write, the reads of a caller who wrote within the read-your-writes window (db/read_pins.py), subscriptions, and
every background task (sweeper, webhook delivery, change feed, outbox sequencer), which use the Database itself.

Replicas are taken in turn (round robin per request) among those the last health check found up and no more than
`max_lag_seconds` behind. A check runs every `check_seconds` in each process (`run`, started by the app's
lifespan). How far behind a replica is: each check samples the primary's WAL position with the time, and a replica
that has replayed up to position R has everything the primary had committed at the newest sampled time whose
position is <= R. Unlike `now() - pg_last_xact_replay_timestamp()`, this is exact when the primary is idle (no
phantom lag) and still grows when the replica's WAL receiver is disconnected (no false freshness). A replica that
fails to connect at request time is marked down at once and that request reads the primary (failover); the next
check that reaches it brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db import statement_counter
from db.engine import Database, RequestDatabase
from db.read_pins import ReadPins

logger = logging.getLogger("dpor.replicas")

State = Literal["unknown", "up", "lagging", "down"]
# Where one request's reads went, for the route counter (gateway/metrics.py).
Route = Literal["replica", "primary_pinned", "primary_mutation", "primary_no_replica", "primary_failover"]

CHECK_TIMEOUT_SECONDS = 2.0
# A replica that cannot give a request a connection this quickly is taken as down for that request.
CONNECT_TIMEOUT_SECONDS = 1.0
# How far back the primary's WAL positions are kept (a lag beyond it is reported as "at least this").
SAMPLE_WINDOW_SECONDS = 60.0

PRIMARY_POSITION = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
# CASE evaluates lazily: pg_current_wal_lsn() raises during recovery, pg_last_wal_replay_lsn() is NULL outside it.
REPLICA_POSITION = (
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_lsn() END, '0/0')::bigint"
)


@dataclass
class Replica:
    """One replica: its own engine, read sessions and driver pool (a Database), and what the last check found."""

    name: str  # "replica-1", in the order of DPOR_DATABASE_READ_URLS (hosts stay out of probes and metrics)
    database: Database
    state: State = "unknown"
    lag_seconds: float | None = None
    reason: str | None = None

    def failed(self, error: BaseException) -> None:
        if self.state != "down":
            logger.warning("read replica %s is down (%s); its reads go to the primary", self.name, _described(error))
        self.state, self.reason = "down", type(error).__name__


class Replicas:
    """The replicas of one primary, their health, and the choice of one for a request's reads."""

    def __init__(
        self,
        primary: Database,
        members: Sequence[Database],
        *,
        max_lag_seconds: float,
        check_seconds: float,
        pins: ReadPins,
        on_route: Callable[[Route], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.members = [Replica(f"replica-{index}", member) for index, member in enumerate(members, start=1)]
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self.pins = pins
        self._on_route = on_route
        self._clock = clock
        self._next = 0
        # (time, primary WAL position), oldest first.
        self._samples: deque[tuple[float, int]] = deque()
        for member in self.members:
            # A request's statement count (x-dpor-sql-statements, tests) includes what it read on a replica.
            statement_counter.install(member.database.engine)

    def for_request(self, primary: Database) -> RoutedRequestDatabase:
        return RoutedRequestDatabase(primary, self)

    def routed(self, route: Route) -> None:
        if self._on_route is not None:
            self._on_route(route)

    async def replica_for(self, caller: str | None) -> Replica | None:
        """The replica for a request's reads, or None for the primary."""
        if caller is not None and await self.pins.pinned(caller):
            self.routed("primary_pinned")
            return None
        count = len(self.members)
        for step in range(count):
            replica = self.members[(self._next + step) % count]
            if replica.state == "up":
                self._next = (self._next + step + 1) % count
                self.routed("replica")
                return replica
        self.routed("primary_no_replica")
        return None

    def states(self) -> list[State]:
        return [member.state for member in self.members]

    async def run(self, stop: asyncio.Event) -> None:
        """Check every `check_seconds` until `stop` is set (gateway/background.py: stopped between checks)."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # a check must never end the loop: the next one may succeed
                logger.exception("checking the read replicas failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_seconds)

    async def check(self) -> None:
        """One health check of every replica (at once), against a fresh sample of the primary's position."""
        now = self._clock()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), self.primary.reader.connect() as connection:
                position = (await connection.execute(text(PRIMARY_POSITION))).scalar_one()
            self._samples.append((now, int(position)))
        except Exception as error:  # the primary's own health is /readyz's business; lag is judged on older samples
            logger.warning("could not sample the primary's WAL position (%s)", _described(error))
        while len(self._samples) > 1 and self._samples[0][0] < now - SAMPLE_WINDOW_SECONDS:
            self._samples.popleft()
        await asyncio.gather(*(self._check(member) for member in self.members))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), replica.database.reader.connect() as connection:
                row = (await connection.execute(text(REPLICA_POSITION))).one()
        except Exception as error:
            replica.failed(error)
            replica.lag_seconds = None
            return
        replayed = None if row[1] is None else int(row[1])
        replica.lag_seconds = self._lag(replayed)
        fresh = replica.lag_seconds is not None and replica.lag_seconds <= self.max_lag_seconds
        state: State = "up" if fresh else "lagging"
        if state != replica.state:
            log = logger.info if state == "up" else logger.warning
            log("read replica %s is %s (lag %s s)", replica.name, state, _seconds(replica.lag_seconds))
        replica.state, replica.reason = state, None if fresh else "lagging"

    def _lag(self, replayed: int | None) -> float | None:
        """Seconds of the primary's history the replica has not replayed, as of the newest sample (None: unknown)."""
        if not self._samples or replayed is None:
            return None
        newest = self._samples[-1][0]
        for sampled_at, position in reversed(self._samples):
            if replayed >= position:
                return newest - sampled_at
        return newest - self._samples[0][0] + self.check_seconds  # behind every sample: at least this

    async def close(self) -> None:
        for member in self.members:
            await member.database.dispose()
        await self.pins.close()


class RoutedRequestDatabase(RequestDatabase):
    """A request's database when replicas are configured: its reads go where `Replicas.replica_for` says, decided
    at its first read; a mutation's reads and every read after a write go to the primary; a write pins the caller.
    """

    def __init__(self, primary: Database, replicas: Replicas) -> None:
        super().__init__(primary)
        self._replicas = replicas
        # The token's subject (set by the view): whose writes pin, whose pin is looked up.
        self.pinned_subject: str | None = None
        self._on_primary = False
        self._decided = False
        self._replica: Replica | None = None

    @property
    def replica(self) -> Replica | None:
        """Where this request's reads went (None: the primary, or not decided yet)."""
        return self._replica

    async def reads_on_primary(self) -> None:
        """For a mutation, before it executes: it reads what it is about to change, so it reads the primary."""
        self._on_primary = True
        if self._replica is not None:
            self._replica = None
            await self.close()  # a batch's earlier query held a replica session: the next read opens a new one
        self._replicas.routed("primary_mutation")

    async def _chosen(self) -> Replica | None:
        if self._on_primary:
            return None
        if not self._decided:
            self._decided = True
            self._replica = await self._replicas.replica_for(self.pinned_subject)
        return self._replica

    async def _open_read_session(self) -> AsyncSession:
        replica = await self._chosen()
        if replica is not None:
            session = replica.database.read_sessions()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await session.connection()
            except Exception as error:
                await session.close()
                self._fail_over(replica, error, down=True)
            else:
                return session
        return await super()._open_read_session()

    async def _fetch_unheld(self, sql: str, arguments: Sequence[object]) -> Any:
        replica = await self._chosen()
        if replica is not None:
            try:
                # The replica's driver pool, working for this request's caller (its row-level security too).
                replica_database = replica.database if self.caller is None else replica.database.acting(self.caller)
                return await replica_database.fetch_value_on_driver(sql, arguments)
            except Exception as error:  # the primary answers; a statement that fails there too fails as always
                self._fail_over(replica, error, down=_connection_failure(error))
        return await super()._fetch_unheld(sql, arguments)

    def _fail_over(self, replica: Replica, error: BaseException, *, down: bool) -> None:
        if down:
            replica.failed(error)
        self._replica = None
        self._on_primary = True
        self._replicas.routed("primary_failover")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with super().read() as session:
                yield session
        except DBAPIError as error:
            replica = self._replica  # the session's, chosen at the request's first read
            # The replica went away under a statement (it had not closed the pooled connection yet): this read
            # fails as a database failure always does, the request's later reads and other requests go elsewhere.
            driver_error = getattr(error.orig, "__cause__", None) or error.orig
            gone = error.connection_invalidated or (driver_error is not None and _connection_failure(driver_error))
            if replica is not None and gone:
                self._fail_over(replica, error, down=True)
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with super().write() as session:
            yield session
        # Committed: this request's later reads, and the caller's for the window, see it on the primary.
        self._on_primary = True
        self._replica = None
        if self.pinned_subject is not None:
            await self._replicas.pins.pin(self.pinned_subject)


def _connection_failure(error: BaseException) -> bool:
    """The replica, not the statement, failed: no connection, or the server going away (SQLSTATE classes 08 and
    57, but not 57014, a cancelled statement)."""
    if isinstance(error, OSError | TimeoutError | asyncpg.InterfaceError):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in ("08", "57") and sqlstate != "57014"


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f}"
