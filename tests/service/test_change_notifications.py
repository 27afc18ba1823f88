"""Waking the change event pollers (db/change_notifications.py): a commit that wrote or published a change event
rings them (PostgreSQL: the trigger's NOTIFY through the LISTEN connection, so any process; SQLite: the process's
own commits), a rollback or a commit of other rows does not, and a lost LISTEN connection comes back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, text

from db import change_notifications
from db.change_event import ChangeEvent
from db.change_notifications import Waiter, mark_changed, wakeup_for
from db.engine import Database
from db.partner import Partner

QUIET = 0.3
WAIT = 5.0


@asynccontextmanager
async def listening(database: Database) -> AsyncIterator[Waiter]:
    """A waiter rung as this process's pollers of `database` are; on PostgreSQL through a LISTEN connection of a
    Database of its own (another process's, as far as the notification goes)."""
    if database.dialect != "postgresql":
        waiter = wakeup_for(database.engine).waiter()
        try:
            yield waiter
        finally:
            waiter.close()
        return
    other = Database.from_url(database.engine.url.render_as_string(hide_password=False), pool_size=1)
    waiter = wakeup_for(other.engine).waiter()
    stop = asyncio.Event()
    task = asyncio.create_task(change_notifications.listen(other.engine, stop))
    try:
        assert await waiter.wait(WAIT), "the LISTEN connection rings once when it opens"
        yield waiter
    finally:
        stop.set()
        await task
        waiter.close()
        await other.dispose()


async def write_event(database: Database, *, commit: bool = True) -> None:
    class RolledBack(Exception):
        pass

    try:
        async with database.write() as session:
            session.add(ChangeEvent(type="association.dpor_set", audit_event_id=uuid.uuid4(), partner_payloads={}))
            mark_changed(session)
            if not commit:
                await session.flush()
                raise RolledBack
    except RolledBack:
        pass


async def test_a_committed_event_rings_and_a_rolled_back_one_does_not(database: Database) -> None:
    async with listening(database) as waiter:
        await write_event(database, commit=False)
        assert not await waiter.wait(QUIET)
        async with database.write() as session:  # a commit of other rows
            session.add(Partner(id=uuid.uuid4(), mpn_id="4242", name="P", country_code="FR"))
        assert not await waiter.wait(QUIET)
        await write_event(database)
        assert await waiter.wait(WAIT)


async def test_publishing_rings(database: Database) -> None:
    from resolvers.webhooks import sequencer

    await write_event(database)
    async with listening(database) as waiter:
        async with database.write() as session:
            assert await sequencer.publish(session) == 1
        assert await waiter.wait(WAIT)
        async with database.read() as session:
            assert await session.scalar(select(ChangeEvent.sequence)) is not None


async def test_a_lost_listen_connection_comes_back(database: Database) -> None:
    if database.dialect != "postgresql":
        return  # SQLite has no connection to lose
    async with listening(database) as waiter:
        async with database.write() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                )
            )
        assert await asyncio.wait_for(_rung_by_reconnection(waiter), 10)
        await write_event(database)
        assert await waiter.wait(WAIT)


async def _rung_by_reconnection(waiter: Waiter) -> bool:
    while not await waiter.wait(0.2):
        pass
    return True
