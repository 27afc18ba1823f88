"""db.engine.RequestDatabase: a request's reads share one connection; a write gives it back first."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text

from db.engine import Database
from db.tenant import Tenant
from tests import factories


async def _backend_pid(database: Database) -> object:
    async with database.read() as session:
        if database.dialect == "postgresql":
            return await session.scalar(text("SELECT pg_backend_pid()"))
        # SQLite has no server process: the driver connection object identifies the connection.
        return id((await (await session.connection()).get_raw_connection()).driver_connection)


async def test_reads_of_one_request_share_one_connection(database: Database) -> None:
    request = database.for_request()
    try:
        first, second = await asyncio.gather(_backend_pid(request), _backend_pid(request))
        assert first == second
        assert await _backend_pid(request) == first
    finally:
        await request.close()


async def test_rows_come_back_detached_and_fresh(database: Database) -> None:
    async with database.write() as session:
        tenant = factories.tenant()
        await factories.add_flushed(session, tenant)
    request = database.for_request()
    try:
        async with request.read() as session:
            before = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
        async with request.write() as session:
            row = await session.get(Tenant, tenant.id)
            assert row is not None
            row.display_name = "Renamed in this request"
        async with request.read() as session:
            after = await session.scalar(select(Tenant).where(Tenant.id == tenant.id))
        # Not the identity map's earlier object: the read after the write sees the committed change.
        assert before is not None and after is not None and before is not after
        assert after.display_name == "Renamed in this request"
    finally:
        await request.close()


async def test_a_failed_read_starts_the_next_on_a_new_session(database: Database) -> None:
    request = database.for_request()
    try:
        try:
            async with request.read() as session:
                await session.execute(text("SELECT * FROM no_such_table"))
        except Exception:
            pass
        async with request.read() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await request.close()


async def test_writers_beyond_the_pool_queue_instead_of_deadlocking(database_url: str) -> None:
    """Each request reads (holding a connection), then writes: with more requests than connections, holding the
    read connection while waiting for a write connection would deadlock the pool."""
    database = Database.from_url(database_url, pool_size=1)
    try:

        async def request_that_reads_then_writes() -> None:
            request = database.for_request()
            try:
                async with request.read() as session:
                    await session.execute(text("SELECT 1"))
                async with request.write() as session:
                    await factories.add_flushed(session, factories.tenant())
            finally:
                await request.close()

        await asyncio.wait_for(asyncio.gather(*(request_that_reads_then_writes() for _ in range(8))), timeout=30)
    finally:
        await database.dispose()
