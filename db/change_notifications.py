"""Waking the change event pollers at once (issue 15): the change feed and the webhook delivery worker poll the
outbox, and a notification tells them to poll now instead of at their next interval.

The poll stays the safety net: a notification carries nothing (no ids, no payload), so one lost (a listener
reconnecting, a process busy) costs only the poll interval, never an event. What rings:

- PostgreSQL: a trigger on `change_events` (revision change_events_notify) runs `pg_notify` in the transaction
  that inserts an event (a mutation) or gives it its sequence (the sequencer), so the notification is sent at
  commit, never for a rolled back change, by every write path alike (ORM adds, bulk INSERTs) and at no round trip
  of the application's. Each process holds one LISTEN connection (`listen`, asyncpg's add_listener, opened with
  the engine's URL: a session-pooled or direct connection, since a transaction-pooling PgBouncer cannot LISTEN),
  and rings its in-process `Wakeup` on each notification; every process is told, whichever committed.
- SQLite: one database file, no notifications; a write session that wrote or published events (`mark_changed`)
  rings its own process's `Wakeup` after it committed. Other processes on the same file (`serve --workers N` in
  development) keep to their poll.

Why not Redis pub/sub: the notification would have to be published after the commit by every path that writes
an event, and a process dying between the commit and the publish would leave the others to their poll; the
trigger cannot forget, and needs nothing beside the database every process already shares.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from contextlib import suppress
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

log = logging.getLogger(__name__)

CHANNEL = "dpor_change_events"
# Seconds between attempts to (re)open the LISTEN connection; the pollers poll meanwhile.
RECONNECT_SECONDS = 1.0
_CHANGED = "dpor.change_events_changed"


class Waiter:
    """One poller's doorbell: `wait` returns when rung (or at its timeout, or when `stop` is set)."""

    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float | None, stop: asyncio.Event | None = None) -> bool:
        """Until rung, for `seconds` (None: no limit) or until `stop`; True when rung. A ring while the poller was
        busy is kept, so the next wait returns at once: a change made during a poll is not left to the interval."""
        if not self._rung.is_set():
            waits = [asyncio.ensure_future(self._rung.wait())]
            if stop is not None:
                waits.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pending in waits:
                    pending.cancel()
        rung = self._rung.is_set()
        self._rung.clear()
        return rung

    def open(self) -> None:
        """Rung again after `close` (a poller started anew)."""
        self._wakeup.waiters.add(self)

    def close(self) -> None:
        self._wakeup.waiters.discard(self)


class Wakeup:
    """A process's pollers of one database, rung together."""

    def __init__(self) -> None:
        self.waiters: set[Waiter] = set()
        self.rings = 0  # how many times it rang (tests and metrics)

    def waiter(self) -> Waiter:
        waiter = Waiter(self)
        self.waiters.add(waiter)
        return waiter

    def ring(self) -> None:
        self.rings += 1
        for waiter in list(self.waiters):
            waiter.ring()


# Per database (a test run may point one process at several), keyed by the engine's pool, which the read and write
# engines derived from it share (as auth.scope.known_ids).
_wakeups: weakref.WeakKeyDictionary[Pool, Wakeup] = weakref.WeakKeyDictionary()


def wakeup_for(engine: AsyncEngine | Engine) -> Wakeup:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    found = _wakeups.get(sync.pool)
    if found is None:
        found = _wakeups[sync.pool] = Wakeup()
    return found


def mark_changed(session: AsyncSession) -> None:
    """This write session wrote or published change events: on SQLite its process's pollers are rung after it
    commits (PostgreSQL's trigger notifies every process instead)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.sync_session.info[_CHANGED] = bind


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    bind = session.info.pop(_CHANGED, None)
    if bind is not None:
        wakeup_for(bind).ring()


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)


def _driver_url(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(engine: AsyncEngine, stop: asyncio.Event) -> None:
    """PostgreSQL: LISTEN on one connection of its own until `stop`, ringing this process's pollers of `engine`
    on each notification, and once on every (re)connection (what was notified while it was away)."""
    wakeup = wakeup_for(engine)
    url = _driver_url(engine)

    def notified(*_args: object) -> None:
        wakeup.ring()

    while not stop.is_set():
        lost = asyncio.Event()
        try:
            connection = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("change notifications: cannot LISTEN (%s); the pollers poll meanwhile", error)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
            continue
        try:
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(CHANNEL, notified)
            wakeup.ring()
            stopping = asyncio.ensure_future(stop.wait())
            losing = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait([stopping, losing], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                losing.cancel()
            if lost.is_set() and not stop.is_set():
                log.warning("change notifications: the LISTEN connection was lost; reconnecting")
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("change notifications: LISTEN failed (%s); reconnecting", error)
        finally:
            with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await connection.close(timeout=2)
