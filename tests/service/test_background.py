"""Background tasks stop cleanly (gateway/background.py): asked to stop in the middle of a statement, a task ends
it and gives its pooled connection back; only one still busy after the grace period is cancelled."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from db.engine import Database
from gateway.app import create_app
from gateway.background import in_background
from gateway.settings import load_settings
from tests.api import _VAR_DIR


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


async def test_the_apps_lifespan_stops_every_background_task_with_its_connections_back(database: Database) -> None:
    # Sweep, webhook worker, change feed and (PostgreSQL) the LISTEN connection, all busy polling.
    settings = load_settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        var_dir=_VAR_DIR,
        sweep_interval_seconds=0.01,
        webhook_delivery_interval_seconds=0.01,
    )
    app = create_app(settings, database)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.3)
    assert checked_out(database) == 0
    assert not [task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith("dpor-")]
