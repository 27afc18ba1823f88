"""Background tasks stop cleanly (gateway/background.py): asked to stop in the middle of a statement, a task ends
it and gives its pooled connection back; only one still busy after the grace period is cancelled."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from db.engine import Database
from gateway.background import in_background


def checked_out(database: Database) -> int:
    count = getattr(database.engine.pool, "checkedout", None)
    return int(count()) if callable(count) else 0


async def test_a_task_stopped_mid_statement_finishes_it_and_gives_its_connection_back(database: Database) -> None:
    in_statement = asyncio.Event()
    passes: list[str] = []
    slow = "SELECT pg_sleep(0.3)" if database.dialect == "postgresql" else "SELECT 1"

    async def work(stop: asyncio.Event) -> None:
        while not stop.is_set():
            async with database.write() as session:
                in_statement.set()
                await session.execute(text(slow))
            passes.append("done")

    async with in_background(work, "test-work"):
        await in_statement.wait()
        assert checked_out(database) in (0, 1)
    assert passes and checked_out(database) == 0


async def test_a_task_that_does_not_stop_is_cancelled_after_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def stubborn(_stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with asyncio.timeout(5), in_background(stubborn, "test-stubborn", grace_seconds=0.1):
        await asyncio.sleep(0)
    assert cancelled.is_set()
